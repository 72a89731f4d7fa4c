"""The gauges of ``/metrics/business`` count every item, however small the store's row cap
(``LEDGERLINE_QUERY_MAX_ROWS``): open exceptions are SQL aggregates; stuck, failed and breached
transactions are read in the background up to the scrape's own row cap. Both equal what the at-risk
route answers when the cap is not reached."""

from __future__ import annotations

import pytest

from collector.store import Store
from lineage.core.flows import load_flows
from lineage.core.scope import Scope
from lineage.core.service import Lineage
from lineage.core.window import Window
from lineage.insights.scrape import BusinessMetrics, Limits
from lineage.insights.service import at_risk
from lineage.settings import LineageSettings
from tests.alerts.ticket_servers import failure, now_ms
from tests.lineage.flow_helpers import HOUR, Spans

pytestmark = pytest.mark.timeout(120)


def _lineage(store: Store, max_rows: int) -> Lineage:
    settings = LineageSettings(clickhouse_url=store.dsn, clickhouse_database=store.database, query_max_rows=max_rows)
    return Lineage(settings, store, load_flows())


def test_open_exception_gauges_are_not_cut_at_the_row_cap(store: Store) -> None:
    for n in range(5):
        failure(store, f"invoice:INV-{n}", amount=10.25)
    failure(store, "invoice:INV-U", amount=None)  # amount unknown
    failure(store, "invoice:INV-F", amount=7.0, currency="USD", legal_entity="FR01")
    window = Limits(window_ms=86_400_000, refresh_s=0)
    capped = BusinessMetrics(_lineage(store, 2), window).scrape(Scope())
    assert sum(capped.open_exceptions.values()) == 7
    assert capped.open_exceptions == {("sap", "emea"): 7}
    money = {k: v for k, v in capped.money.items() if k[0] == "open_exceptions"}
    assert money == {("open_exceptions", "EUR"): 51.25, ("open_exceptions", "USD"): 7.0, ("open_exceptions", ""): 0.0}
    # the same figures as the at-risk route with room for every item
    full = _lineage(store, 10_000)
    risk = at_risk(full, Scope(), Window(now_ms() - 86_400_000, now_ms(), 10_000), "open_exceptions", "", "", "")
    assert len(risk["items"]) == 7 and not risk["truncated"]
    totals = {(t["kind"], t["currency"] or ""): t["amount"] for t in risk["totals"] if t["kind"] == "open_exceptions"}
    assert totals == money
    # scoped: only the legal entity's failures
    scoped = BusinessMetrics(_lineage(store, 2), window).scrape(Scope(legal_entities=("FR01",)))
    assert scoped.open_exceptions == {("sap", "emea"): 1}
    assert {k: v for k, v in scoped.money.items() if k[0] == "open_exceptions"} == {("open_exceptions", "USD"): 7.0}


def test_stuck_gauges_read_past_the_row_cap_in_the_background(store: Store) -> None:
    """Six stuck transactions under a row cap of 2: the refresh reads up to its own
    ``max_rows`` (``LEDGERLINE_BUSINESS_METRICS_MAX_ROWS``), so it counts all six and their
    money, as the at-risk route with room for every item; at the cap it says it undercounts."""
    spans = Spans()
    invoiced = now_ms() - 10 * HOUR  # the posting stage's SLA is 4h: stuck since
    for n in range(6):
        cid = f"STUCK-{n}"
        spans.add(cid, f"order:S{n}", "order.booked", invoiced - HOUR, amount=100.0)
        spans.add(cid, f"invoice:S{n}", "invoice.issued", invoiced, parent=("order", f"S{n}"), amount=100.0)
    spans.write(store)
    roomy = Limits(window_ms=86_400_000, refresh_s=0, max_rows=10_000)
    snap = BusinessMetrics(_lineage(store, 2), roomy).scrape(Scope())
    assert sum(snap.stuck.values()) == 6 and not snap.truncated
    full = _lineage(store, 10_000)
    risk = at_risk(full, Scope(), Window(now_ms() - 86_400_000, now_ms(), 10_000), "stuck", "", "", "")
    assert len(risk["items"]) == 6 and not risk["truncated"]
    stuck_money = {(t["kind"], t["currency"] or ""): t["amount"] for t in risk["totals"] if t["kind"] == "stuck"}
    assert {k: v for k, v in snap.money.items() if k[0] == "stuck"} == stuck_money == {("stuck", "EUR"): 600.0}
    # without room past the store's cap the gauge undercounts, and says so
    capped = BusinessMetrics(_lineage(store, 2), Limits(window_ms=86_400_000, refresh_s=0)).scrape(Scope())
    assert capped.truncated and sum(capped.stuck.values()) < 6
