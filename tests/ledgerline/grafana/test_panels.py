"""Every panel of the generated dashboards, expanded as Grafana's ClickHouse data source expands
it, runs against a store the simulator filled (every flow, with faults) and returns the columns
its format needs; where the API has the same figure, both agree."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.settings import StoreSettings
from collector.store import open_store
from ledgerline.grafana import access, dashboards
from ledgerline.grafana.model import Panel
from ledgerline.schema import migrate_all
from lineage.core.flows import load_flows
from tests.dashboard.stack import FlowsStack, running_flows_stack
from tests.ledgerline.grafana.panels import requests, run, runs

pytestmark = pytest.mark.timeout(600)
FLOWS = load_flows()
BOARD = dashboards.business_flows(FLOWS)
LOOKUP = dashboards.transaction_lookup("http://dash.example", "http://api.example")


@pytest.fixture(scope="module")
def world(chdb_path: Path) -> Iterator[FlowsStack]:
    with running_flows_stack(chdb_path, "grafana", count=160, seed=11) as stack:
        yield stack


@pytest.fixture(scope="module")
def window() -> tuple[datetime, datetime]:
    end = datetime.now(UTC).replace(microsecond=0)
    return end - timedelta(hours=25), end


def _api(world: FlowsStack, path: str, **params: Any) -> Any:
    response = httpx.get(
        world.api_url + path, params=params, headers={"Authorization": f"Bearer {world.token}"}, timeout=60
    )
    assert response.status_code == 200, response.text
    return response.json()


def _rows(world: FlowsStack, panel: Panel, window: tuple[datetime, datetime], **picked: Any) -> list[dict[str, Any]]:
    request = requests(world.store, BOARD, *window, **picked)
    out = []
    for one in runs(panel, request):
        names, rows = run(world.store, panel, one)
        flow = one.values.get("flow")
        out += [dict(zip(names, r, strict=True)) | ({"_flow": flow[0]} if panel.repeat else {}) for r in rows]
    return out


def _panel(title: str) -> Panel:
    return next(p for p in BOARD.panels if p.title.startswith(title))


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def test_every_panel_runs_with_every_filter_at_all_and_at_one_value(
    world: FlowsStack, window: tuple[datetime, datetime]
) -> None:
    everything = requests(world.store, BOARD, *window)
    assert set(everything.options["legal_entity"]) >= {"LL-DE-GmbH", "LL-US-Inc"}
    picked = {name: [values[0]] for name, values in everything.options.items()}
    for panel in BOARD.panels:
        filled = [run(world.store, panel, one)[1] for one in runs(panel, everything)]
        assert any(filled), f"panel {panel.title!r} is empty over a simulated day"
        for one in runs(panel, requests(world.store, BOARD, *window, **picked)):
            run(world.store, panel, one)


def test_stages_completed_agree_with_the_throughput_route(world: FlowsStack, window: tuple[datetime, datetime]) -> None:
    grafana: dict[str, int] = defaultdict(int)
    for row in _rows(world, _panel("Stages completed"), window):
        grafana[row["flow"]] += int(row["completed"])
    for flow in FLOWS.flows:
        doc = _api(world, "/api/v1/metrics/throughput", flow=flow, since=_iso(window[0]), until=_iso(window[1]),
                   bucket="5m", limit=10000)  # fmt: skip
        assert not doc["truncated"]
        assert grafana.get(flow, 0) == sum(b["completed"] for b in doc["buckets"]), flow
    assert sum(grafana.values()) > 100


def test_posting_latency_agrees_with_the_posting_latency_route(
    world: FlowsStack, window: tuple[datetime, datetime]
) -> None:
    rows = _rows(world, _panel("Posting latency"), window)
    assert {r["_flow"] for r in rows} >= {"support_credit", "order_to_cash"}
    for flow in ("support_credit", "order_to_cash", "payment_sync"):
        doc = _api(world, "/api/v1/metrics/posting-latency", flow=flow, since=_iso(window[0]),
                   until=_iso(window[1]), bucket="5m", limit=10000)  # fmt: skip
        api = {b["bucket"]: (b["p50_ms"], b["p95_ms"], b["p99_ms"]) for b in doc["buckets"]}
        mine = {_iso(r["time"].replace(tzinfo=UTC)): (r["p50_s"], r["p95_s"], r["p99_s"]) for r in rows
                if r["_flow"] == flow}  # fmt: skip
        assert set(mine) == {b.replace(".000Z", "Z") for b in api} or set(mine) == set(api)
        for bucket, (p50, p95, p99) in api.items():
            got = mine.get(bucket) or mine[bucket.replace(".000Z", "Z")]
            assert got == pytest.approx((p50 / 1000, p95 / 1000, p99 / 1000)), (flow, bucket)


def test_the_backlog_agrees_with_the_exceptions_listing(world: FlowsStack, window: tuple[datetime, datetime]) -> None:
    rows = _rows(world, _panel("Exception backlog"), window)
    grafana = defaultdict(lambda: [0, 0])
    for r in rows:
        grafana[r["system"]][0] += int(r["open"])
        grafana[r["system"]][1] += int(r["acknowledged"])
    api = defaultdict(lambda: [0, 0])
    for i, state in enumerate(("open", "acknowledged")):
        doc = _api(world, "/api/v1/exceptions", state=state, since=_iso(window[0]), until=_iso(window[1]), limit=10000)
        for e in doc["exceptions"]:
            api[e["system"]][i] += 1
    assert dict(grafana) == dict(api)
    assert sum(v[0] for v in grafana.values()) > 0


def test_stuck_transactions_agree_with_the_listing(world: FlowsStack, window: tuple[datetime, datetime]) -> None:
    rows = _rows(world, _panel("Stuck transactions"), window)
    grafana: dict[str, int] = defaultdict(int)
    for r in rows:
        grafana[r["flow"]] += int(r["stuck"])
    doc = _api(world, "/api/v1/transactions", status="stuck", since=_iso(window[0]), until=_iso(window[1]), limit=10000)
    api: dict[str, int] = defaultdict(int)
    for t in doc["transactions"]:
        api[t["flow"]] += 1
    assert dict(grafana) == dict(api)
    assert sum(api.values()) > 0


def test_money_at_risk_agrees_with_the_at_risk_route(world: FlowsStack, window: tuple[datetime, datetime]) -> None:
    rows = _rows(world, _panel("Money at risk"), window)
    grafana = {r["currency"]: (round(float(r["amount"]), 2), int(r["exceptions"])) for r in rows}
    doc = _api(world, "/api/v1/at-risk", since=_iso(window[0]), until=_iso(window[1]), kind="open_exceptions")
    api = {
        t["currency"] or "(none)": (t["amount"], t["count"]) for t in doc["totals"] if t["kind"] == "open_exceptions"
    }
    assert grafana == api
    assert sum(n for _, n in api.values()) > 0


def test_a_legal_entity_filter_narrows_the_panels(world: FlowsStack, window: tuple[datetime, datetime]) -> None:
    every = sum(int(r["completed"]) for r in _rows(world, _panel("Stages completed"), window))
    one = sum(
        int(r["completed"]) for r in _rows(world, _panel("Stages completed"), window, legal_entity=["LL-DE-GmbH"])
    )
    assert 0 < one < every


def test_the_lookup_finds_a_transaction_by_correlation_id_and_by_business_key(
    world: FlowsStack, window: tuple[datetime, datetime]
) -> None:
    cid, etype, eid = world.store.query(
        "SELECT CorrelationId, toString(EntityType), EntityId FROM hops WHERE Step = 'invoice.issued' LIMIT 1"
    )[0]
    hops_panel, trail = LOOKUP.panels
    for key in (cid, f"{etype}:{eid}"):
        request = requests(world.store, LOOKUP, *window, key=key)
        names, rows = run(world.store, hops_panel, request)
        assert rows and {dict(zip(names, r, strict=True))["correlation_id"] for r in rows} >= {cid}
        run(world.store, trail, request)
    names, rows = run(world.store, hops_panel, requests(world.store, LOOKUP, *window, key="it's-nothing"))
    assert rows == []
    link = hops_panel.links[0].url
    assert link.startswith("${ledgerline_dashboard_url}/?page=lineage&correlation_id=${__data.fields.correlation_id")


def test_the_panels_read_only_the_tables_the_readers_are_granted(world: FlowsStack) -> None:
    tables = {str(r[0]) for r in world.store.query("SELECT name FROM system.tables WHERE database = currentDatabase()")}
    read = set()
    for panel in (*BOARD.panels, *LOOKUP.panels):
        read |= set(re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", panel.sql)) & tables
    for variable in BOARD.variables:
        read |= set(re.findall(r"\bFROM\s+(\w+)", variable.query)) & tables
    assert read == set(access.TABLES)


def test_a_renamed_column_fails_the_panels_that_name_it(chdb_path: Path, window: tuple[datetime, datetime]) -> None:
    """The check can fail: a store whose hop_times lost ``Outcome`` fails the panels reading it."""
    store = open_store(StoreSettings(clickhouse_url=f"chdb://{chdb_path}", clickhouse_database="grafana_renamed"))
    try:
        migrate_all(store)
        store.command("ALTER TABLE hop_times RENAME COLUMN Outcome TO Result")
        request = requests(store, BOARD, *window)
        with pytest.raises(AssertionError, match=r"Stages completed.*Outcome"):
            run(store, _panel("Stages completed"), request)
    finally:
        store.command("DROP DATABASE IF EXISTS grafana_renamed")


def test_a_renamed_result_column_fails_the_check(world: FlowsStack, window: tuple[datetime, datetime]) -> None:
    panel = _panel("Stuck transactions")
    assert panel.sql.count("AS oldest_activity") == 1
    renamed = Panel(panel.title, panel.kind, panel.sql.replace("AS oldest_activity", "AS oldest"), panel.format,
                    panel.columns)  # fmt: skip
    with pytest.raises(AssertionError, match=r"returns .*'oldest'"):
        run(world.store, renamed, requests(world.store, BOARD, *window))
