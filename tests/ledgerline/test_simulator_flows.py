"""Several flows side by side: each injected fault is found by the lineage API in the numbers
the run's summary reports (waiting queues, KPIs, reconciliations, compensations)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledgerline.simulator import SimConfig, run_simulation
from ledgerline.simulator.config import DEMO_FLOW_MIX
from lineage.api.app import create_app
from lineage.core.shape import iso
from lineage.settings import LineageSettings
from tests.conftest import RunningCollector
from tests.lineage.auth.helpers import bearer, issue

SEC = 1_000_000_000
MIX = {"order_to_cash": 0.5, "payment_sync": 0.3, "disputes": 0.2}
FAULTS = {"billing_lag": 0.2, "posting_reversed": 0.15, "crm_outage": 0.3}


def test_flow_faults_are_found_by_the_api(collector: RunningCollector) -> None:
    now = time.time_ns()
    config = SimConfig(
        seed=17,
        backfill_s=86400,
        backfill_count=160,
        endpoint=collector.http_endpoint,
        flow_mix=MIX,
        flow_fault_rates=FAULTS,
        fault_rates={},
        now_ns=now,
    )
    summary = run_simulation(config, out=None)
    assert summary.spans_failed == 0 and sum(summary.flows.values()) == 160
    assert set(summary.flows) == set(MIX)
    d = summary.details
    assert min(d["billing_lag:pending"], d["billing_lag:late"], d["crm_outage:pending"]) > 0
    assert summary.faults["posting_reversed"] > 0
    text = summary.format(config)
    assert "orders awaiting billing" in text and "GET /api/v1/reconciliations/payment_to_crm/breaks" in text

    store = collector.store
    window = {"since": iso((now - 86400 * SEC) // 1_000_000 - 60_000), "until": iso(now // 1_000_000 + 60_000)}
    settings = LineageSettings(clickhouse_url=store.dsn, clickhouse_database=store.database)
    with TestClient(create_app(settings, store)) as client:
        client.headers.update(bearer(issue(store, "viewer", "sim@corp.example")))

        def get(url: str, **params: Any) -> Any:
            response = client.get(url, params=params | window)
            assert response.status_code == 200, response.text
            return response.json()

        o2c = {s["stage"]: s["count"] for s in get("/api/v1/flows/order_to_cash/waiting", limit=500)["stages"]}
        assert o2c == {"billing": d["billing_lag:pending"], "posting": 0}
        pay = {s["stage"]: s["count"] for s in get("/api/v1/flows/payment_sync/waiting", limit=500)["stages"]}
        assert pay == {"crm": d["crm_outage:pending"], "cash": 0}

        kpis = {k["name"]: k for k in get("/api/v1/kpis", flow="order_to_cash", bucket="2d")["kpis"]}
        cycle = kpis["order_to_invoice_cycle"]["buckets"]
        assert sum(b["over_target"] for b in cycle) == d["billing_lag:late"]
        crm = get("/api/v1/kpis", flow="payment_sync", kpi="crm_failure_rate", bucket="2d")["kpis"][0]["buckets"]
        assert sum(b["failed"] for b in crm) == summary.failed_attempts["payment_sync:payment.applied"]
        disputes = get("/api/v1/kpis", flow="disputes", kpi="dispute_cycle", bucket="2d")["kpis"][0]["buckets"]
        assert sum(b["count"] for b in disputes) == summary.flows["disputes"]

        crm_drift = get("/api/v1/reconciliations/payment_to_crm", bucket="2d", group_by="none")["buckets"]
        assert sum(b["breaks"]["left_only"] for b in crm_drift) == d["crm_outage:pending"]
        assert sum(b["break_count"] for b in crm_drift) == d["crm_outage:pending"]
        ledger = get("/api/v1/reconciliations/invoice_to_ledger", bucket="2d")["buckets"]
        invoices = summary.flows["order_to_cash"] - d["billing_lag:pending"]
        assert sum(b["break_count"] for b in ledger) == 0  # a reversal nets out: not a break
        assert sum(b["compensated"] for b in ledger) == summary.faults["posting_reversed"]
        assert sum(b["matched"] for b in ledger) == invoices
        assert {b["legal_entity"] for b in ledger} <= {"LL-DE-GmbH", "LL-FR-SAS", "LL-US-Inc", "LL-UK-Ltd", "LL-SE-AB"}

        breaks = get("/api/v1/reconciliations/payment_to_crm/breaks")["breaks"]
        assert len(breaks) == d["crm_outage:pending"]
        found = client.get(f"/api/v1/transactions/{breaks[0]['correlation_ids'][0]}")  # no window: takes none
        assert found.status_code == 200, found.text
        doc = found.json()
        assert [h["step"] for h in doc["hops"]][:2] == ["payment.received", "payment.applied"]


def test_flow_mix_is_validated_and_keeps_support_credit_seeds() -> None:
    with pytest.raises(ValueError, match="unknown flow"):
        SimConfig(flow_mix={"nope": 0.1})
    with pytest.raises(ValueError, match="add up to 1"):
        SimConfig(flow_mix={"order_to_cash": 0.8, "disputes": 0.3})
    with pytest.raises(ValueError, match="unknown flow fault"):
        SimConfig(flow_fault_rates={"nope": 0.1})
    from ledgerline.simulator.scenario import build_transaction

    plain = SimConfig(seed=3)
    mixed = SimConfig(seed=3, flow_mix=DEMO_FLOW_MIX)
    same = [
        seq
        for seq in range(40)
        if build_transaction(mixed, seq).flow == "" and build_transaction(plain, seq).flow == ""
    ]
    assert same and all(build_transaction(mixed, s) == build_transaction(plain, s) for s in same)
    assert {build_transaction(mixed, s).flow for s in range(40)} >= {"", "order_to_cash", "payment_sync"}


def test_cli_flow_options() -> None:
    import argparse

    from ledgerline.simulator.cli import config_from_args, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    config = config_from_args(parser.parse_args(["simulate", "--flows", "all", "--crm-outage-rate", "0.5"]))
    assert config.flow_mix == DEMO_FLOW_MIX and config.flow_fault_rates["crm_outage"] == 0.5
    config = config_from_args(parser.parse_args(["simulate", "--flows", "payment_sync=1", "--no-faults"]))
    assert config.flow_mix == {"payment_sync": 1.0} and set(config.flow_fault_rates.values()) == {0.0}
    with pytest.raises(SystemExit):
        parser.parse_args(["simulate", "--flows", "payment_sync=lots"])
