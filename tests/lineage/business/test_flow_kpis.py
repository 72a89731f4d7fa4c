"""KPIs, waiting queues, reconciliations and compensations against hand-built hops with
known answers (tests/lineage/flow_world.py), through the domain layer and the HTTP API."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from collector.settings import StoreSettings
from collector.store import Store, open_store
from ledgerline.schema import migrate_all
from lineage.api.app import create_app
from lineage.business import kpis, reconcile, waiting
from lineage.cli import _tree
from lineage.core.flows import FlowConfig, load_flows
from lineage.core.scope import EVERYTHING, Scope
from tests.lineage import flow_world
from tests.lineage.auth.helpers import bearer, issue
from tests.lineage.conftest import make_lineage
from tests.lineage.flow_helpers import DAY, HOUR, MIN, T0, Spans

W = flow_world.WINDOW
ISO_T0 = "2026-05-28T00:00:00Z"


@pytest.fixture(scope="module")
def world(chdb_path: Path) -> Iterator[Store]:
    store = open_store(
        StoreSettings(clickhouse_url=f"chdb://{chdb_path}", clickhouse_database=f"flow_world_{os.getpid()}")
    )
    migrate_all(store)
    flow_world.build(store)
    yield store
    store.command("DROP DATABASE IF EXISTS {db:Identifier}", {"db": store.database})


@pytest.fixture(scope="module")
def config() -> FlowConfig:
    return load_flows()


@pytest.fixture(scope="module")
def client(world: Store) -> Iterator[TestClient]:
    lineage = make_lineage(world)
    with TestClient(create_app(lineage.settings, world)) as c:
        c.headers.update(bearer(issue(world, "viewer", "vic@corp.example")))
        yield c


def _kpi(store: Store, config: FlowConfig, flow: str, name: str, scope: Scope = EVERYTHING) -> kpis.Point:
    f = config.flows[flow]
    kpi = f.kpi_named(name)
    assert kpi is not None
    points, truncated = kpis.series(store, config, scope, f, kpi, bucket_ms=DAY, **W)
    assert not truncated and len(points) == 1, points
    return points[0]


def test_latency_kpi_parent_match_with_objective(world: Store, config: FlowConfig) -> None:
    # O-1 -> INV-1 1h (its retried success counts once), O-2 -> INV-2 3h (over 2h), O-6 -> INV-6 1h
    p = _kpi(world, config, "order_to_cash", "order_to_invoice_cycle")
    assert (p.count, p.bad) == (3, 1)
    assert p.quantiles is not None and p.quantiles[0] == HOUR and p.quantiles[2] == 3 * HOUR


def test_latency_kpi_correlation_match(world: Store, config: FlowConfig) -> None:
    p = _kpi(world, config, "payment_sync", "payment_to_crm")
    assert p.count == 1 and p.quantiles is not None and p.quantiles[0] == 30 * MIN


def test_throughput_kpi_counts_entities_once(world: Store, config: FlowConfig) -> None:
    # INV-1 (twice), 2, 6, 7, 8, 9, 10, 20, 40, 41 in the window; INV-30 before it
    assert _kpi(world, config, "order_to_cash", "invoices_issued").count == 10


def test_failure_rate_kpi(world: Store, config: FlowConfig) -> None:
    p = _kpi(world, config, "order_to_cash", "posting_failure_rate")
    assert (p.count, p.bad) == (12, 2)
    assert _kpi(world, config, "payment_sync", "crm_failure_rate").bad == 1


def test_kpi_scope_and_groups(world: Store, config: FlowConfig) -> None:
    assert _kpi(world, config, "order_to_cash", "invoices_issued", Scope(legal_entities=("LE-2",))).count == 1
    f = config.flows["order_to_cash"]
    kpi = f.kpi_named("invoices_issued")
    assert kpi is not None
    points, _ = kpis.series(world, config, EVERYTHING, f, kpi, bucket_ms=DAY, group_by="legal_entity", **W)
    assert {(p.group, p.count) for p in points} == {("LE-1", 7), ("LE-2", 1), ("LE-3", 2)}


def test_waiting_queues(world: Store, config: FlowConfig) -> None:
    doc = waiting.waiting(world, config, EVERYTHING, config.flows["order_to_cash"], now_ms=T0 + DAY, limit=1, **W)
    billing, posting = doc["stages"]
    # orders awaiting billing: O-3 (50 EUR) and O-4 (70 USD); O-5 was cancelled (compensated)
    assert billing["stage"] == "billing" and billing["count"] == 2
    assert billing["amounts"] == [{"currency": "EUR", "amount": 50.0}, {"currency": "USD", "amount": 70.0}]
    assert billing["oldest_age_ms"] == DAY - 2 * HOUR
    assert [i["business_key"] for i in billing["items"]] == ["order:O-3"] and billing["truncated"]
    assert billing["items"][0]["correlation_id"] == "O3"
    # invoices not posted to the ERP: INV-6 only (INV-9 cancelled; INV-7's posting reversed and re-posted)
    assert posting["count"] == 1 and posting["items"][0]["entity_id"] == "INV-6" and not posting["truncated"]
    crm = waiting.waiting(world, config, EVERYTHING, config.flows["payment_sync"], now_ms=T0 + DAY, limit=10, **W)
    assert [i["entity_id"] for i in crm["stages"][0]["items"]] == ["PAY-2"]  # payments not reflected in the CRM


def test_reconciliation_drift_with_compensations(world: Store, config: FlowConfig) -> None:
    rec = config.reconciliations["invoice_to_ledger"]
    doc = reconcile.summary(world, config, EVERYTHING, rec, bucket_ms=DAY, by_legal_entity=True, limit=100, **W)
    le1, le2, le3 = doc["buckets"]
    assert (le1["legal_entity"], le1["currency"], le1["bucket"]) == ("LE-1", "EUR", ISO_T0)
    assert le1["left"] == {"count": 7, "amount": 1600.0} and le1["right"] == {"count": 6, "amount": 1870.0}
    assert (le1["matched"], le1["compensated"]) == (2, 2)
    assert le1["breaks"] == {"left_only": 1, "right_only": 1, "amount_mismatch": 2, "currency_mismatch": 1}
    assert le1["break_amounts"] == {"left_only": 300.0, "right_only": 80.0, "amount_difference": 490.0}
    assert (le2["legal_entity"], le2["currency"], le2["matched"], le2["break_count"]) == ("LE-2", "GBP", 1, 0)
    # a batch journal matches each invoice it posts on presence (its total is not split)
    assert (le3["legal_entity"], le3["matched"], le3["break_count"]) == ("LE-3", 2, 0)
    assert le3["left"] == le3["right"] == {"count": 2, "amount": 250.0}
    scoped = reconcile.summary(
        world, config, Scope(legal_entities=("LE-2",)), rec, bucket_ms=DAY, by_legal_entity=True, limit=100, **W
    )
    assert [b["legal_entity"] for b in scoped["buckets"]] == ["LE-2"]


def test_reconciliation_breaks_open_their_lineage(world: Store, config: FlowConfig, client: TestClient) -> None:
    rec = config.reconciliations["invoice_to_ledger"]
    doc = reconcile.breaks(world, config, EVERYTHING, rec, kind="", limit=100, **W)
    kinds = {b["key"]: b["kind"] for b in doc["breaks"]}
    assert kinds == {
        "INV-2": "amount_mismatch",
        "INV-6": "left_only",
        "INV-8": "amount_mismatch",
        "INV-10": "currency_mismatch",
        "INV-X": "right_only",
    }
    dup = next(b for b in doc["breaks"] if b["key"] == "INV-8")
    assert dup["right_entities"] == ["ledger:LED-8", "ledger:LED-8B"] and dup["right_amount"] == 1000.0
    for b in doc["breaks"]:
        for cid in b["correlation_ids"]:
            assert client.get(f"/api/v1/transactions/{cid}").status_code == 200
    payments = reconcile.breaks(
        world, config, EVERYTHING, config.reconciliations["payment_to_crm"], kind="", limit=9, **W
    )
    assert [(b["key"], b["kind"]) for b in payments["breaks"]] == [("PAY-2", "left_only")]


def test_lineage_shows_compensation_next_to_what_it_reverses(client: TestClient) -> None:
    doc = _get(client, "/api/v1/transactions/O7")
    hops = {(h["entity_id"], h["step"]): h for h in doc["hops"]}
    assert hops[("REV-7", "ledger.reversed")]["compensates"] == "ledger:LED-7"
    assert hops[("LED-7", "ledger.posted")]["compensated_by"] == ["ledger:REV-7 ledger.reversed"]
    # a reversed posting and its re-posting are not a duplicate posting, nor an amount mismatch
    assert not [c for c in doc["conformance"] if c["kind"] == "duplicate_posting"]
    assert doc["amount_mismatches"] == [] and doc["exceptions"] == []
    dup = _get(client, "/api/v1/transactions/O8")
    assert [c for c in dup["conformance"] if c["kind"] == "duplicate_posting"]
    tree = "\n".join(_tree(doc))  # ledgerline trace prints it too
    assert "reverses ledger:LED-7" in tree and "reversed by ledger:REV-7 ledger.reversed" in tree
    cancelled = _get(client, "/api/v1/transactions/O5")
    assert cancelled["exceptions"] == [] and cancelled["status"] != "failed"


def _get(client: TestClient, url: str, **params: Any) -> Any:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json()


_WIN = {"since": "2026-05-28T00:00:00Z", "until": "2026-05-29T00:00:00Z"}


def test_kpi_route(client: TestClient) -> None:
    doc = _get(client, "/api/v1/kpis", flow="order_to_cash", bucket="1d", **_WIN)
    by_name = {k["name"]: k for k in doc["kpis"]}
    assert list(by_name) == ["posting_latency", "order_to_invoice_cycle", "invoices_issued", "posting_failure_rate"]
    cycle = by_name["order_to_invoice_cycle"]
    assert cycle["objective"] == {"target_ms": 2 * HOUR, "percent": 95.0, "max_rate": None}
    assert cycle["buckets"][0] | {} == cycle["buckets"][0] and cycle["buckets"][0]["count"] == 3
    assert cycle["buckets"][0]["over_target"] == 1 and cycle["buckets"][0]["within_objective"] is False
    assert by_name["invoices_issued"]["buckets"][0]["rate"] == pytest.approx(10 / 24)
    rate = by_name["posting_failure_rate"]["buckets"][0]
    assert (rate["failed"], rate["rate"], rate["within_objective"]) == (2, pytest.approx(2 / 12), False)
    # posting latency is one KPI among them, and its route gives the same numbers
    old = _get(client, "/api/v1/metrics/posting-latency", flow="order_to_cash", bucket="1d", **_WIN)
    new = by_name["posting_latency"]["buckets"][0]
    assert old["buckets"][0]["count"] == new["count"] and old["buckets"][0]["p95_ms"] == new["p95_ms"]
    everything = _get(client, "/api/v1/kpis", bucket="1d", **_WIN)
    assert {k["flow"] for k in everything["kpis"]} >= {"order_to_cash", "payment_sync", "disputes"}
    grouped = _get(
        client,
        "/api/v1/kpis",
        flow="order_to_cash",
        kpi="invoices_issued",
        bucket="1d",
        group_by="legal_entity",
        **_WIN,
    )
    assert {(b["group"], b["count"]) for b in grouped["kpis"][0]["buckets"]} == {("LE-1", 7), ("LE-2", 1), ("LE-3", 2)}
    unknown = client.get("/api/v1/kpis", params={"flow": "nope"})  # a context filter: 422 on every route
    assert unknown.status_code == 422 and "unknown flow 'nope'" in unknown.json()["detail"]
    assert client.get("/api/v1/kpis", params={"kpi": "nope"}).status_code == 404
    assert client.get("/api/v1/kpis", params={"group_by": "planet"}).status_code == 422


def test_waiting_and_reconciliation_routes(client: TestClient, world: Store) -> None:
    doc = _get(client, "/api/v1/flows/order_to_cash/waiting", limit=10, **_WIN)
    assert [(s["stage"], s["count"]) for s in doc["stages"]] == [("billing", 2), ("posting", 1)]
    one = _get(client, "/api/v1/flows/order_to_cash/waiting", stage="posting", **_WIN)
    assert [s["stage"] for s in one["stages"]] == ["posting"]
    assert client.get("/api/v1/flows/order_to_cash/waiting", params={"stage": "order"}).status_code == 422
    assert client.get("/api/v1/flows/nope/waiting").status_code == 404
    listed = _get(client, "/api/v1/reconciliations")["reconciliations"]
    assert [r["name"] for r in listed] == ["invoice_to_ledger", "payment_to_crm"]
    drift = _get(client, "/api/v1/reconciliations/invoice_to_ledger", bucket="1d", **_WIN)
    assert [b["break_count"] for b in drift["buckets"]] == [5, 0, 0]
    breaks = _get(client, "/api/v1/reconciliations/invoice_to_ledger/breaks", kind="left_only", **_WIN)
    assert [b["key"] for b in breaks["breaks"]] == ["INV-6"] and breaks["breaks"][0]["correlation_ids"] == ["O6"]
    assert client.get("/api/v1/reconciliations/nope").status_code == 404
    scoped = {"Authorization": f"Bearer {issue(world, 'viewer', 'le2@corp.example', legal_entities=['LE-2'])}"}
    mine = client.get("/api/v1/reconciliations/invoice_to_ledger/breaks", params=_WIN, headers=scoped).json()
    assert mine["breaks"] == []
    queue = client.get("/api/v1/flows/order_to_cash/waiting", params=_WIN, headers=scoped).json()
    assert [s["count"] for s in queue["stages"]] == [1, 0]  # O-4 only


def test_late_and_duplicate_deliveries(store: Store) -> None:
    ids = flow_world.build(store)
    config = load_flows()
    rec = config.reconciliations["invoice_to_ledger"]
    s = Spans()
    # duplicate deliveries of a posting and of a failed attempt (same span ids): nothing changes
    s.add(
        "O1",
        "ledger:LED-1",
        "ledger.posted",
        T0 + 3 * HOUR,
        system="erp",
        amount=100,
        parent=("invoice", "INV-1"),
        ids=ids["LED-1"],
    )
    s.add(
        "O11",
        "ledger:LED-11",
        "ledger.posted",
        T0 + 4 * HOUR,
        system="erp",
        outcome="failed",
        parent=("invoice", "INV-11"),
        ids=ids["F0"],
    )
    s.write(store)
    assert _kpi(store, config, "order_to_cash", "posting_failure_rate").count == 12
    doc = reconcile.summary(store, config, EVERYTHING, rec, bucket_ms=DAY, by_legal_entity=False, limit=10, **W)
    eur = next(b for b in doc["buckets"] if b["currency"] == "EUR")
    assert eur["matched"] == 2 and eur["break_count"] == 5
    # late deliveries: INV-6's posting and O-3's invoice arrive after the first answers
    s.add("O6", "ledger:LED-6", "ledger.posted", T0 + 20 * HOUR, system="erp", amount=300, parent=("invoice", "INV-6"))
    s.add("O3", "invoice:INV-3", "invoice.issued", T0 + 21 * HOUR, amount=50, parent=("order", "O-3"))
    s.write(store)
    doc = reconcile.summary(store, config, EVERYTHING, rec, bucket_ms=DAY, by_legal_entity=False, limit=10, **W)
    assert next(b for b in doc["buckets"] if b["currency"] == "EUR")["matched"] == 3  # INV-6 / LED-6
    left_only = reconcile.breaks(store, config, EVERYTHING, rec, kind="left_only", limit=10, **W)["breaks"]
    assert [b["key"] for b in left_only] == ["INV-3"]  # issued late, not posted yet
    queues = waiting.waiting(store, config, EVERYTHING, config.flows["order_to_cash"], now_ms=T0 + DAY, limit=5, **W)
    assert [q["count"] for q in queues["stages"]] == [1, 1]  # O-4 awaits billing; INV-3 now awaits posting


def test_a_compensation_delivered_twice_reverses_once(store: Store) -> None:
    """REV-7 reverses LED-7's 400 (INV-7 then matches its re-posting): delivered again with the
    same span ids, it still reverses 400, not 800 (which would leave INV-7 an amount mismatch),
    in the summary and in the close gate's breaks of every legal entity."""
    ids = flow_world.build(store)
    config = load_flows()
    rec = config.reconciliations["invoice_to_ledger"]

    def read() -> tuple[dict[str, Any], dict[str, Any]]:
        summary = reconcile.summary(store, config, EVERYTHING, rec, bucket_ms=DAY, by_legal_entity=True, limit=100, **W)
        by_le = reconcile.break_rows_by_legal_entity(store, EVERYTHING, rec, limit=100, **W)
        return summary, by_le

    first = read()
    store.command("SYSTEM STOP MERGES hop_times")  # the two copies stay apart until read
    try:
        s = Spans()
        s.add("O7", "ledger:REV-7", "ledger.reversed", T0 + 6 * HOUR, system="erp", amount=400,
              compensates="ledger:LED-7", parent=("invoice", "INV-7"), ids=ids["REV-7"])  # fmt: skip
        s.write(store)
        assert store.query("SELECT count() FROM hop_times WHERE EntityId = 'REV-7'")[0][0] == 2
        assert read() == first
    finally:
        store.command("SYSTEM START MERGES hop_times")
    assert first[0]["buckets"][0]["matched"] == 2
    assert "INV-7" not in {b["key"] for b in first[1]["LE-1"][0]}


def test_posting_latency_counts_a_posting_and_its_issue_delivered_twice_once(store: Store) -> None:
    """INV-1's issue and LED-1's posting delivered again with the same span ids (read while both
    copies are stored: the posting-latency CTE reads hop_times without FINAL): the posting latency
    KPI keeps its count, its over-target count and its quantiles."""
    ids = flow_world.build(store)
    config = load_flows()
    first = _kpi(store, config, "order_to_cash", "posting_latency")
    store.command("SYSTEM STOP MERGES hop_times")  # the copies stay apart until read
    try:
        s = Spans()
        s.add("O1", "invoice:INV-1", "invoice.issued", T0 + 2 * HOUR, amount=100, currency="EUR",
              legal_entity="LE-1", parent=("order", "O-1"), ids=ids["INV-1"])  # fmt: skip
        s.add("O1", "ledger:LED-1", "ledger.posted", T0 + 3 * HOUR, system="erp", amount=100, currency="EUR",
              parent=("invoice", "INV-1"), legal_entity="LE-1", ids=ids["LED-1"])  # fmt: skip
        s.write(store)
        copies = "SELECT countIf(SpanId = {i:String}), countIf(SpanId = {p:String}) FROM hop_times"
        assert store.query(copies, {"i": ids["INV-1"][1], "p": ids["LED-1"][1]})[0] == (2, 2)
        again = _kpi(store, config, "order_to_cash", "posting_latency")
    finally:
        store.command("SYSTEM START MERGES hop_times")
    assert first.count > 0
    assert (again.count, again.bad, again.quantiles) == (first.count, first.bad, first.quantiles)
