"""The SQL filter of transaction facts (``facts_queries._KEEP`` and the candidates of
``FACTS_IN_WINDOW_OPEN``) keeps exactly the transactions lineage/core/derive.py's verdicts call
incomplete, breached or stuck-like, on generated transactions of every flow: stages done or
not, late or on time, failures, unknown flows, and batch journals completing another
correlation ID's stage. Spans go through the real materialized views of the embedded store."""

from __future__ import annotations

import random
import time
from typing import Any

from collector.store import Store
from lineage.core import domain
from lineage.core.derive import Verdict
from lineage.core.flows import load_flows
from lineage.core.scope import EVERYTHING, Scope

_COLUMNS = ("Timestamp", "TraceId", "SpanId", "ServiceName", "SpanName", "SpanAttributes", "Duration", "StatusCode")
H = 3_600_000


def _span(cid: str, flow: str, etype: str, eid: str, step: str, t_ms: int, *, outcome: str = "ok", **extra: str):
    attrs = {
        "correlation.id": cid,
        "biz.entity.type": etype,
        "biz.entity.id": eid,
        "biz.step": step,
        "biz.outcome": outcome,
        "biz.region": extra.pop("region", "emea"),
        "biz.legal_entity": extra.pop("le", "LE-1"),
    } | extra
    if flow:
        attrs["biz.flow"] = flow
    ident = f"{cid}/{eid}/{step}/{t_ms}/{outcome}"
    return (
        t_ms * 1_000_000,
        f"{abs(hash(cid)):032x}"[-32:],
        f"{abs(hash(ident)):016x}"[-16:],
        "svc",
        step,
        attrs,
        60_000_000_000,
        "Ok" if outcome == "ok" else "Error",
    )


def _world(now_ms: int, n: int = 600) -> list[tuple[Any, ...]]:
    """Random transactions over the flows file's flows; every fourth posts through a journal."""
    rng = random.Random(14)
    config = load_flows()
    rows = []
    flows = [*sorted(config.flows), "no_such_flow", ""]
    for i in range(n):
        flow_name = rng.choice(flows)
        flow = config.flow(flow_name)
        cid = f"K-{i}"
        t = now_ms - rng.randrange(2 * H, 40 * H)
        parent: tuple[str, str] | None = None
        for j, stage in enumerate(flow.stages):
            if rng.random() < 0.15:  # stage never done (missing or still open)
                parent = None if rng.random() < 0.5 else parent
                continue
            t += rng.choice([5 * 60_000, H // 2, 2 * H, 5 * H, 26 * H])
            if t >= now_ms:
                break
            eid = f"{stage.entity_type.upper()}-{i}-{j}"
            extra = {"biz.parent.type": parent[0], "biz.parent.id": parent[1]} if parent else {}
            if rng.random() < 0.1:  # a failure first, sometimes never retried
                rows.append(
                    _span(cid, flow_name, stage.entity_type, eid, stage.step, t - 60_000, outcome="failed", **extra)
                )
                rows[-1][5]["biz.error.category"] = rng.choice(["timeout", "tax_error"])
                if rng.random() < 0.5:
                    continue
            journal = j == len(flow.stages) - 1 and j > 0 and rng.random() < 0.25
            rows.append(
                _span(
                    f"J-{i}" if journal else cid,
                    "" if journal else flow_name,
                    stage.entity_type,
                    eid,
                    stage.step,
                    t,
                    **extra,
                )
            )
            parent = (stage.entity_type, eid)
    return rows


def _stuck_like(v: Verdict) -> bool:
    return v.status != "complete" and (v.end_to_end_breached or any(s.state == "open" and s.breached for s in v.stages))


_WANTED = {
    "incomplete": lambda v: v.status != "complete",
    "breaches": lambda v: v.breached,
    "stuck": _stuck_like,
}


def _assess(store: Store, now_ms: int, keep: domain.Keep, scope: Scope = EVERYTHING) -> dict[str, Verdict]:
    assessed, truncated = domain.assess(
        store,
        load_flows(),
        scope,
        since_ms=now_ms - 48 * H,
        until_ms=now_ms,
        scan_until_ms=now_ms,
        now_ms=now_ms,
        max_rows=100_000,
        keep=keep,
    )
    assert not truncated
    return {a.facts.correlation_id: a.verdict for a in assessed}


def test_sql_keeps_exactly_what_the_verdicts_select(store: Store) -> None:
    now_ms = time.time_ns() // 1_000_000
    store.insert("otel_traces", _world(now_ms), _COLUMNS)
    everything = _assess(store, now_ms, "all")
    assert len(everything) > 400
    for keep, wanted in _WANTED.items():
        expected = {cid for cid, v in everything.items() if wanted(v)}
        kept = _assess(store, now_ms, keep)  # type: ignore[arg-type]
        assert set(kept) == expected, keep
        assert all(kept[cid].status == everything[cid].status for cid in kept)
    # every mode meets something, so none is vacuous
    statuses = {v.status for v in everything.values()}
    assert {"complete", "stuck", "in_flight", "failed"} <= statuses
    assert any(v.breached and v.status == "complete" for v in everything.values())


def test_journal_completions_count_in_the_candidate_query(store: Store) -> None:
    """A transaction whose last stage a batch journal (another correlation ID) completed is
    complete, also when only incomplete transactions are asked for."""
    now_ms = time.time_ns() // 1_000_000
    t = now_ms - 3 * H
    store.insert(
        "otel_traces",
        [
            _span("A-1", "support_credit", "case", "CASE-A1", "case.opened", t),
            _span(
                "A-1",
                "support_credit",
                "credit",
                "CR-A1",
                "credit.approved",
                t + 60_000,
                **{"biz.parent.type": "case", "biz.parent.id": "CASE-A1"},
            ),
            _span(
                "A-1",
                "support_credit",
                "invoice",
                "INV-A1",
                "invoice.issued",
                t + 120_000,
                **{"biz.parent.type": "credit", "biz.parent.id": "CR-A1"},
            ),
            _span(
                "JNL-1",
                "erp_journal",
                "ledger",
                "JNL-1",
                "ledger.posted",
                t + 180_000,
                **{"biz.parent.type": "invoice", "biz.parent.id": "INV-A1"},
            ),
        ],
        _COLUMNS,
    )
    everything = _assess(store, now_ms, "all")
    assert everything["A-1"].status == "complete"
    assert "A-1" not in _assess(store, now_ms, "incomplete")
    # Scoped to another legal entity, nothing of it is seen at all.
    assert _assess(store, now_ms, "incomplete", Scope(legal_entities=("LE-9",))) == {}


def test_breaches_by_stage_count_what_the_verdicts_breach(store: Store) -> None:
    """The SLA rule's per-stage counts and examples (SQL) equal grouping derive.py's breaches."""
    now_ms = time.time_ns() // 1_000_000
    store.insert("otel_traces", _world(now_ms), _COLUMNS)
    config = load_flows()
    window = {"since_ms": now_ms - 48 * H, "until_ms": now_ms, "scan_until_ms": now_ms, "now_ms": now_ms}
    seen = 0
    for flow in sorted(config.flows):
        assessed, _ = domain.assess(store, config, EVERYTHING, max_rows=100_000, flow=flow, **window)
        expected: dict[str, list[tuple[int, str]]] = {}
        for b in domain.breaches(assessed):
            expected.setdefault(b.stage_name, []).append((b.facts.started_ms, b.facts.correlation_id))
        counted = domain.breaches_by_stage(store, config, EVERYTHING, flow=flow, **window)
        assert {k: n for k, (n, _) in counted.items()} == {k: len(v) for k, v in expected.items()}, flow
        assert {k: ex for k, (_, ex) in counted.items()} == {k: sorted(v)[:5] for k, v in expected.items()}, flow
        seen += sum(len(v) for v in expected.values())
    assert seen > 50  # the world breaches plenty, of several stages and end to end
