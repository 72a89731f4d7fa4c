"""The overview's money at risk by system and region, in headless Chromium against a real stack."""

from __future__ import annotations

import contextlib
import re

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
