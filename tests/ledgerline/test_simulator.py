"""The simulator without a collector: seeded generation, fault shapes, SDK emission, CLI."""

from __future__ import annotations

import argparse
import io
import math
import threading
from collections import Counter

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ledgerline.simulator import FAULT_KINDS, SimConfig, Summary, run_simulation
from ledgerline.simulator.cli import config_from_args, register
from ledgerline.simulator.scenario import (
    HOUR,
    SEC,
    BatchJournal,
    Transaction,
    build_transaction,
    fault_counts,
    plan_backfill,
)

NOW = 1_767_312_000 * SEC  # 2026-01-02 00:00 UTC
DAY = 24 * HOUR
RATES = dict.fromkeys(FAULT_KINDS, 0.06)


def _plan(
    seed: int = 1, count: int = 400, rates: dict[str, float] = RATES
) -> tuple[list[Transaction], list[BatchJournal]]:
    return plan_backfill(SimConfig(seed=seed, fault_rates=rates), NOW - DAY, NOW, count)


def _steps(tx: Transaction) -> list[tuple[str, str]]:
    return [(h.step, h.outcome) for h in tx.hops]


def test_same_seed_same_transactions() -> None:
    assert _plan(seed=3) == _plan(seed=3)
    other, _ = _plan(seed=4)
    first, _ = _plan(seed=3)
    assert {t.invoice_id for t in first}.isdisjoint({t.invoice_id for t in other})
    # A transaction depends on (seed, seq) only, not on how many others were generated.
    config = SimConfig(seed=3, fault_rates=RATES)
    assert build_transaction(config, 17) == build_transaction(config, 17)
    assert {t.seq: t for t in first}[17].correlation_id == build_transaction(config, 17).correlation_id


def test_fault_rates_match_configuration() -> None:
    n = 6000
    txs, _ = _plan(count=n)
    counts = fault_counts(txs)
    for kind in FAULT_KINDS:
        tolerance = 4 * math.sqrt(n * 0.06 * 0.94)
        assert abs(counts[kind] - n * 0.06) < tolerance, (kind, counts[kind])
    assert sum(1 for t in txs if t.fault is None) == n - sum(counts.values())
    none, _ = _plan(count=500, rates={})
    assert not fault_counts(none)


def test_backfill_lies_in_window_and_regions_vary() -> None:
    txs, journals = _plan()
    hops = [h for t in txs for h in t.hops] + [j.hop for j in journals]
    assert all(NOW - DAY <= h.start_ns <= h.end_ns <= NOW for h in hops)
    assert len({t.region for t in txs}) >= 4 and len({t.legal_entity for t in txs}) == 5


def test_each_fault_has_its_shape() -> None:
    txs, _journals = _plan(count=600)
    by_kind: dict[str | None, list[Transaction]] = {}
    for tx in txs:
        by_kind.setdefault(tx.fault, []).append(tx)
    for tx in by_kind[None]:
        assert _steps(tx) == [
            ("case.opened", "ok"),
            ("credit.approved", "ok"),
            ("invoice.issued", "ok"),
            ("ledger.posted", "ok"),
        ]
    for tx in by_kind["erp_outage"]:
        outcomes = [(h.outcome, h.category) for h in tx.hops if h.entity_type == "ledger"]
        assert outcomes[-1] == ("ok", None) and len(outcomes) >= 2
        assert set(outcomes[:-1]) == {("retry", "erp_unavailable")}
        gaps = [b.start_ns - a.end_ns for a, b in zip(tx.hops[3:], tx.hops[4:], strict=False)]
        assert gaps == sorted(gaps)  # backoff grows
    for tx in by_kind["tax_error"]:
        assert _steps(tx)[-1] == ("invoice.issued", "dead_letter") and tx.hops[-1].category == "tax_error"
    for tx in by_kind["unmatched_account"]:
        assert _steps(tx)[-1] == ("ledger.posted", "dead_letter")
    for tx in by_kind["late_posting"]:
        invoice, ledger = tx.hops[2], tx.hops[3]
        assert ledger.start_ns - invoice.end_ns > 4 * HOUR
    for tx in by_kind["missing_hop"]:
        assert len(tx.hops) < 4 and all(h.outcome == "ok" for h in tx.hops)
    for tx in by_kind["duplicate_posting"]:
        postings = [h for h in tx.hops if h.entity_type == "ledger"]
        assert len(postings) == 2 and len({h.idempotency_key for h in postings}) == 1
        assert len({h.entity_id for h in postings}) == 2
    for tx in by_kind["amount_mismatch"]:
        assert len({(h.amount, h.currency) for h in tx.hops if h.amount is not None}) == 2


def test_batch_journals_fan_in_within_sla() -> None:
    txs, journals = _plan(count=600)
    batched = {t.invoice_id: t for t in txs if t.fault == "batch_journal"}
    assert all(_steps(t)[-1] == ("invoice.issued", "ok") for t in batched.values())
    posted = [i for j in journals for i in j.hop.parent_ids]
    assert sorted(posted) == sorted(batched)
    for journal in journals:
        assert journal.correlation_id.startswith("batch-") and journal.hop.parent_type == "invoice"
        for invoice_id in journal.hop.parent_ids:
            issued = batched[invoice_id].invoice_end_ns or 0
            assert 0 < journal.hop.start_ns - issued < 4 * HOUR
        assert {batched[i].legal_entity for i in journal.hop.parent_ids} == {journal.legal_entity}


def _capture() -> tuple[list[InMemorySpanExporter], object]:
    exporters: list[InMemorySpanExporter] = []

    def factory(config: SimConfig, system: str) -> SpanExporter:
        exporters.append(InMemorySpanExporter())
        return exporters[-1]

    return exporters, factory


def _emit(seed: int, count: int = 120) -> tuple[list[ReadableSpan], Summary]:
    exporters, factory = _capture()
    config = SimConfig(seed=seed, backfill_s=86400, backfill_count=count, now_ns=NOW, fault_rates=RATES)
    summary = run_simulation(config, out=None, exporter_factory=factory)  # type: ignore[arg-type]
    return [s for e in exporters for s in e.get_finished_spans()], summary


def test_emission_is_deterministic_and_propagates_correlation() -> None:
    spans, summary = _emit(seed=5)
    again, _ = _emit(seed=5)
    ids = sorted((s.context.trace_id, s.context.span_id) for s in spans)
    assert ids == sorted((s.context.trace_id, s.context.span_id) for s in again)
    assert summary.spans_sent == summary.spans_emitted == len(spans) and summary.spans_failed == 0
    assert {s.resource.attributes["service.name"] for s in spans} == {
        "support",
        "middleware",
        "billing",
        "erp",
    }
    by_trace: dict[int, set[object]] = {}
    for span in spans:
        attrs = span.attributes or {}
        by_trace.setdefault(span.context.trace_id, set()).add(attrs["correlation.id"])
        assert attrs["biz.flow"] == ("erp_journal" if span.links else "support_credit")
    assert all(len(c) == 1 for c in by_trace.values())  # one business transaction per trace
    journals = [s for s in spans if s.links]
    assert journals and summary.batch_journals == len(journals)
    for journal in journals:
        assert len(journal.links) == len(journal.attributes["biz.parent.id"])  # type: ignore[arg-type,index]
    counts = Counter(s.attributes["biz.outcome"] for s in spans)  # type: ignore[index]
    assert counts["retry"] and counts["dead_letter"]


def test_live_phase_paces_and_stops_at_count() -> None:
    exporters, factory = _capture()
    config = SimConfig(seed=2, rate=200, count=40, fault_rates=RATES, progress_every_s=0.01)
    summary = run_simulation(config, out=None, exporter_factory=factory)  # type: ignore[arg-type]
    assert summary.transactions == 40
    assert 0.1 < summary.elapsed_s < 5
    spans = [s for e in exporters for s in e.get_finished_spans()]
    assert len(spans) == summary.spans_sent


def test_config_rejects_bad_rates() -> None:
    with pytest.raises(ValueError):
        SimConfig(fault_rates={"gremlins": 0.1})
    with pytest.raises(ValueError):
        SimConfig(fault_rates=dict.fromkeys(FAULT_KINDS, 0.2))


def test_cli_arguments_make_a_config(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    monkeypatch.setenv("LEDGERLINE_INGEST_TOKENS", "s3cret, other")
    args = parser.parse_args(
        [
            "simulate",
            "--seed",
            "9",
            "--backfill",
            "24h",
            "--protocol",
            "grpc",
            "--erp-outage-rate",
            "0.1",
            "--backfill-count",
            "50",
        ]
    )
    config = config_from_args(args)
    assert (config.seed, config.backfill_s, config.backfill_total, config.live) == (9, 86400, 50, False)
    assert config.target == "127.0.0.1:4317" and config.bearer == "s3cret"
    assert config.rate_of("erp_outage") == 0.1 and config.rate_of("tax_error") == 0.02
    args = parser.parse_args(["simulate", "--count", "10", "--no-faults"])
    config = config_from_args(args)
    assert config.live and not any(config.fault_rates.values())


def test_backfill_then_live_until_stop_event() -> None:
    exporters, factory = _capture()
    stop = threading.Event()
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    config = SimConfig(seed=4, rate=50, backfill_s=3600 * 6, backfill_count=30, fault_rates=RATES)
    summary = run_simulation(config, stop, out=None, exporter_factory=factory)  # type: ignore[arg-type]
    timer.cancel()
    assert 30 + 5 < summary.transactions < 30 + 60  # backfill, then ~0.5 s of live traffic
    assert summary.elapsed_s < 5
    assert len([s for e in exporters for s in e.get_finished_spans()]) == summary.spans_sent


def test_live_ids_start_where_asked_and_never_meet_the_backfills() -> None:
    exporters, factory = _capture()
    config = SimConfig(
        seed=5, rate=200, count=5, backfill_s=3600, backfill_count=10, fault_rates=RATES, live_first_seq=1_733_000_000
    )
    run_simulation(config, out=None, exporter_factory=factory)  # type: ignore[arg-type]
    spans = [s for e in exporters for s in e.get_finished_spans()]
    cases = {str(s.attributes["biz.entity.id"]) for s in spans if s.attributes["biz.entity.type"] == "case"}  # type: ignore[index]
    assert len([c for c in cases if c.endswith(tuple(f"-{n:06d}" for n in range(10)))]) == 10  # backfill 0..9
    assert sorted(c.rsplit("-", 1)[1] for c in cases if "-17330000" in c) == [f"{1_733_000_000 + i}" for i in range(5)]


def test_the_live_rate_line_shows_the_live_rate() -> None:
    _, factory = _capture()
    out = io.StringIO()
    config = SimConfig(
        seed=6, rate=20, count=10, backfill_s=3600, backfill_count=300, fault_rates=RATES, progress_every_s=0.05
    )
    run_simulation(config, out=out, exporter_factory=factory)  # type: ignore[arg-type]
    live = [line for line in out.getvalue().splitlines() if "[live]" in line]
    assert live
    rate = float(live[-1].rsplit(",", 1)[1].split()[0])
    assert rate < 40  # the live rate (20/s), not 300 backfilled transactions over a short run
