"""The overview's money at risk by system and region, in headless Chromium against a real stack."""

from __future__ import annotations

import contextlib
import csv
import io
import re

from tests.dashboard.browser import BROWSER_MARKS, Dashboard, api, drawn, metric, open_page, shot
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


def _grid(page: Page, title: str) -> Locator:
    column = page.locator('[data-testid="stColumn"]').filter(has_text=title)
    return column.locator('[data-testid="stDataFrame"]')


def _shown(page: Page, grid: Locator) -> list[dict[str, str]]:
    """The rows a grid holds, through its own "Download as CSV" button (the grid is a canvas)."""
    grid.hover()
    with page.expect_download() as download:
        grid.get_by_role("button", name="Download as CSV").click()
    with open(download.value.path(), encoding="utf-8-sig") as fh:
        return list(csv.DictReader(io.StringIO(fh.read())))


def test_the_overview_shows_money_at_risk_by_system_and_region(stack: Stack, dashboard: Dashboard, page: Page) -> None:
    page.add_init_script("delete window.showSaveFilePicker;")  # a plain download, not a save dialog
    open_page(page, dashboard, "?page=overview", "Overview")
    drawn(page)
    doc = api(stack, "/api/v1/at-risk", since="24h", limit=1)
    assert doc["by_system"] and doc["by_region"]
    for by in ("system", "region"):
        grid = _grid(page, f"Money at risk by {by}")
        expect(grid).to_be_visible()
        expected = [
            {
                by: t["group"] or "(none)",
                "what": LABELS[t["kind"]],
                "currency": t["currency"] or "(none)",
                "amount": f"{t['amount']:,.2f}",
                "items": str(t["count"]),
            }
            for t in doc[f"by_{by}"]
        ]
        rows = _shown(page, grid)
        assert [{k: v for k, v in r.items() if k != "list"} for r in rows] == expected
        for r, t in zip(rows, doc[f"by_{by}"], strict=True):
            assert r["list"] == (f"?page=drill&{by}={t['group']}&drill={t['kind']}" if t["group"] else "")
    shot(page, "overview_money_by")


def test_a_money_at_risk_row_opens_its_drill_down(stack: Stack, dashboard: Dashboard, page: Page) -> None:
    open_page(page, dashboard, "?page=overview", "Overview")
    drawn(page)
    first = api(stack, "/api/v1/at-risk", since="24h", limit=1)["by_system"][0]
    grid = _grid(page, "Money at risk by system")
    box = grid.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] - 30, box["y"] + 35 + 17  # the first row's "list ↗" (a canvas cell)
    page.mouse.move(x - 5, y)
    page.mouse.move(x, y)
    with page.context.expect_page() as opened:  # the dashboard's links open a new tab
        page.mouse.click(x, y)
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
        assert metric(drill, f"{t['currency'] or 'no amount'} ({t['count']} items)") == f"{t['amount']:,.2f}"
    shot(drill, "drill_from_money_by_system")
