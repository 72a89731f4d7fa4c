"""Planted causes: the simulator's faults with a known cause (one legal entity, one step, from a
known moment) hit exactly their segment, and "why?" names them at rank 1 from what the store
holds, with the change point near the cause's start."""

from __future__ import annotations

import argparse
import time
from collections import Counter
from datetime import datetime

import pytest

from ledgerline.demo import sim_config
from ledgerline.simulator import SimConfig, run_simulation
from ledgerline.simulator.causes import BAD_DEPLOY, DEMO_CAUSES, Cause, Planter
from ledgerline.simulator.cli import config_from_args, register
from ledgerline.simulator.scenario import plan_backfill
from lineage.core.scope import EVERYTHING
from lineage.core.window import Window
from lineage.explain import service
from tests.conftest import RunningCollector
from tests.lineage.conftest import make_lineage

SEC = 1_000_000_000
HOUR = 3600 * SEC
N = 1500


def _planned(now: int, causes: tuple[Cause, ...]) -> tuple[list, Planter]:
    config = SimConfig(seed=3, backfill_s=86400, backfill_count=N, fault_rates={}, causes=causes, now_ns=now)
    txs, _ = plan_backfill(config, now - 86400 * SEC, now, N)
    planter = Planter(causes, config.seed, now)
    return [(tx, planter.apply(tx)) for tx in txs], planter


def test_a_cause_hits_only_its_legal_entity_and_step_from_its_start_and_is_seeded() -> None:
    now = 1_790_000_000 * SEC
    pairs, planter = _planned(now, DEMO_CAUSES)
    outage, slow = DEMO_CAUSES
    retries: Counter[str] = Counter()
    for before, after in pairs:
        added = after.hops[len(before.hops) :]
        for h in added:
            retries[before.legal_entity] += 1
            assert h.step == "ledger.posted" and h.outcome == "retry" and h.category == "erp_unavailable"
            assert h.end_ns < max(p.start_ns for p in before.hops if p.step == "ledger.posted")
        longer = [a for a, b in zip(after.hops, before.hops, strict=False) if a.end_ns != b.end_ns]
        for a in longer:
            assert before.legal_entity == "LL-FR-SAS" and a.step == "invoice.issued"
            assert a.start_ns >= now - int(slow.since_s * SEC)
        if before.legal_entity not in ("LL-DE-GmbH", "LL-FR-SAS"):
            assert after == before
    assert set(retries) == {"LL-DE-GmbH"}
    hit = sum(
        1 for b, _ in pairs if b.legal_entity == "LL-DE-GmbH"
        and any(h.step == "ledger.posted" and h.start_ns >= now - 3 * HOUR for h in b.hops)
    )  # fmt: skip
    assert 0.5 * hit <= retries["LL-DE-GmbH"] <= 0.9 * hit  # fail_rate 0.7
    assert planter.planted[outage.name] == retries["LL-DE-GmbH"] and planter.planted[slow.name] > 0
    again, _ = _planned(now, DEMO_CAUSES)
    assert [a for _, a in again] == [a for _, a in pairs]  # the same seed plants the same faults
    with pytest.raises(ValueError, match="fail_rate"):
        Cause("x", "ledger.posted", 10, fail_rate=2)


def _started(doc: dict, at_ns: int) -> None:
    cp = doc["change_point"]
    assert cp is not None, "no change point"
    cp_ns = int(datetime.fromisoformat(cp["at"].replace("Z", "+00:00")).timestamp()) * SEC
    assert abs(cp_ns - at_ns) <= 2 * cp["bucket_ms"] * 1_000_000, (cp["at"], at_ns)


def test_explain_names_the_planted_causes_first_from_a_simulation(collector: RunningCollector) -> None:
    now = time.time_ns()
    config = SimConfig(
        seed=8, backfill_s=86400, backfill_count=N, endpoint=collector.http_endpoint, now_ns=now, causes=DEMO_CAUSES
    )
    summary = run_simulation(config, out=None)
    assert summary.spans_failed == 0
    assert summary.details["cause:erp_outage:LL-DE-GmbH"] > 0 and summary.details["cause:billing_slow:LL-FR-SAS"] > 0
    assert "cause:erp_outage:LL-DE-GmbH" in summary.format(config)
    lineage = make_lineage(collector.store)
    window = Window((now - 24 * HOUR) // 1_000_000, now // 1_000_000 + 60_000, 100)
    failed = service.explain(
        lineage, EVERYTHING, service.Question("failed", "rest", "support_credit", "ledger.posted", "", window)
    )
    top = failed["findings"][0]
    assert top["dimensions"] == [{"dimension": "legal_entity", "value": "LL-DE-GmbH"}], failed["findings"]
    assert top["p_value"] <= failed["level"] and top["money_at_risk"][0]["currency"] == "EUR"
    _started(failed, now - 3 * HOUR)
    slow = service.explain(
        lineage, EVERYTHING, service.Question("slow", "rest", "support_credit", "invoice.issued", "", window)
    )
    assert slow["findings"][0]["dimensions"] == [{"dimension": "legal_entity", "value": "LL-FR-SAS"}], slow["findings"]
    latency = slow["findings"][0]["latency"]  # a fifth of its day eight times slower: the tail shows it
    assert latency["p90_ms"] > 2 * latency["p90_baseline_ms"]


def test_simulate_plants_the_demos_causes_when_asked_and_the_demo_always() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    assert config_from_args(parser.parse_args(["simulate", "--count", "1"])).causes == ()
    assert config_from_args(parser.parse_args(["simulate", "--count", "1", "--plant-causes"])).causes == DEMO_CAUSES
    planted = config_from_args(parser.parse_args(["simulate", "--count", "1", "--plant-causes", "bad_deploy"]))
    assert planted.causes == (BAD_DEPLOY,)
    with pytest.raises(SystemExit):
        parser.parse_args(["simulate", "--plant-causes", "meteor"])
    demo = argparse.Namespace(seed=1, rate=1.0, backfill="1h")
    assert sim_config(demo, "http://127.0.0.1:1/v1/traces", 0, 0).causes == DEMO_CAUSES
