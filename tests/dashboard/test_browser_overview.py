"""The overview's money at risk by system and region, in headless Chromium against a real stack."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime

from dashboard import formats
from tests.dashboard.browser import BROWSER_MARKS, Dashboard, api, drawn, drill_card, metric, open_page, shot
from tests.dashboard.stack import Stack

with contextlib.suppress(ImportError):  # without playwright the tests are skipped
    from playwright.sync_api import Locator, Page, expect

pytestmark = BROWSER_MARKS

LABELS = {
    "open_exceptions": "open exceptions",
    "stuck": "stuck transactions",
    "failed": "failed transactions",
    "breached": "SLA-breached transactions",
}


def _table(page: Page, title: str) -> Locator:
    return page.locator('[data-testid="stColumn"]').filter(has_text=title).locator("table")


def _shown(table: Locator) -> list[dict[str, str]]:
    """A table's rows as drawn: cell text, and a link cell's address."""
    names = [th.inner_text().strip() for th in table.locator("thead th").all()]
    rows = []
    for tr in table.locator("tbody tr").all():
        cells = tr.locator("td").all()
        row = {n: td.inner_text().strip() for n, td in zip(names, cells, strict=True)}
        link = tr.locator("td a")
        row["list"] = link.get_attribute("href") or "" if link.count() else ""
        rows.append(row)
    return rows


def test_the_overview_shows_money_at_risk_by_system_and_region(stack: Stack, dashboard: Dashboard, page: Page) -> None:
    open_page(page, dashboard, "?page=overview", "Overview")
    drawn(page)
    doc = api(stack, "/api/v1/at-risk", since="24h", limit=1)
    assert doc["by_system"] and doc["by_region"]
    for by in ("system", "region"):
        table = _table(page, f"Money at risk by {by}")
        expect(table).to_be_attached()
        expected = [
            {
                by: t["group"] or "(none)",
                "what": LABELS[t["kind"]],
                "amount": formats.total(t["amount"], t["currency"]),
                "items": formats.count(t["count"]),
            }
            for t in doc[f"by_{by}"]
        ]
        rows = _shown(table)
        assert [{k: v for k, v in r.items() if k != "list"} for r in rows] == expected
        for r, t in zip(rows, doc[f"by_{by}"], strict=True):
            assert r["list"] == (f"?page=drill&{by}={t['group']}&drill={t['kind']}" if t["group"] else "")
    shot(page, "overview_money_by")


def test_a_money_at_risk_row_opens_its_drill_down(stack: Stack, dashboard: Dashboard, page: Page) -> None:
    open_page(page, dashboard, "?page=overview", "Overview")
    drawn(page)
    first = api(stack, "/api/v1/at-risk", since="24h", limit=1)["by_system"][0]
    row = _table(page, "Money at risk by system").locator("tbody tr").first
    expect(row.locator("td").first).to_have_text(first["group"])
    with page.context.expect_page() as opened:  # the dashboard's links open a new tab
        row.get_by_role("link", name="list ↗").click()
    drill = opened.value
    expect(drill.get_by_role("heading", name=f"Drill-down: {LABELS[first['kind']]}")).to_be_visible(timeout=30_000)
    expect(drill).to_have_url(re.compile(rf"system={first['group']}"))
    drawn(drill)
    expect(drill.get_by_text(re.compile(rf"; system {first['group']}\. Oldest first\."))).to_be_visible()
    doc = api(stack, "/api/v1/at-risk", kind=first["kind"], system=first["group"], since="24h", limit=2000)
    assert doc["items"] and all(i["system"] == first["group"] for i in doc["items"])
    mine = [t for t in doc["totals"] if t["kind"] == first["kind"]]
    assert any(t["currency"] == first["currency"] and t["amount"] == first["amount"] for t in mine)
    for t in mine:
        label, value = drill_card(t)
        assert metric(drill, label) == value
    shot(drill, "drill_from_money_by_system")


def test_the_close_page_shows_each_entitys_gate_as_the_api_computes_it(
    stack: Stack, dashboard: Dashboard, page: Page
) -> None:
    period = datetime.now(UTC).strftime("%Y-%m")  # the simulated day is this month's (still open)
    doc = api(stack, "/api/v1/close", period=period)
    assert doc["gates"], "the packaged calendar names the simulator's legal entities"
    open_page(page, dashboard, f"?page=close&period={period}", "Period close")
    table = page.locator("table").first
    expect(table).to_be_attached()
    rows = {r["legal entity"]: r for r in _shown(table)}
    assert set(rows) == {g["legal_entity"] for g in doc["gates"]}
    for gate in doc["gates"]:
        row = rows[gate["legal_entity"]]
        assert gate["status"] in row["status"], (row, gate["status"])
        not_posted = gate["groups"]["not_posted"]
        assert row["not posted"].startswith(f"{formats.count(not_posted['count'])} · ")
        for m in not_posted["money"]:
            assert formats.money(m["amount"], m["currency"]) in row["not posted"]


def test_why_on_the_exception_backlog_names_what_the_api_finds(stack: Stack, dashboard: Dashboard, page: Page) -> None:
    open_page(page, dashboard, "?page=exceptions&range=24h", "Exception backlog")
    page.get_by_text("Why? What the failed ones have in common").click()
    page.get_by_text("Explain", exact=True).click()
    doc = api(stack, "/api/v1/explain", subject="failed", since="24h")
    count = formats.count(doc["selection"]["count"])
    expect(page.get_by_text(re.compile(rf"{re.escape(count)} failed entity-steps against"))).to_be_visible()
    for f in doc["findings"][:3]:
        what = " AND ".join(f"{d['dimension']}={d['value']}" for d in f["dimensions"])
        expect(page.get_by_text(what, exact=True).first).to_be_attached()


def test_an_unknown_flow_in_a_link_is_named_not_an_api_error(dashboard: Dashboard, page: Page) -> None:
    open_page(page, dashboard, "?page=overview&flow=order_to_csh", "Overview")
    expect(page.get_by_text(re.compile(r"Unknown flow 'order_to_csh'; known: .*order_to_cash"))).to_be_visible()
    expect(page.get_by_text(re.compile("422|not in the flows file"))).to_have_count(0)
