"""The dashboard in headless Chromium against a real stack with simulated data.

One stack and one Streamlit server per module; screenshots go to artifacts/dashboard/.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from tests.dashboard.browser import (
    ARTIFACTS,
    BROWSER_MARKS,
    WAIT_MS,
    Dashboard,
    api,
    free_port,
    metric,
    open_page,
    pick_row,
    shot,
)
from tests.dashboard.stack import Stack

with contextlib.suppress(ImportError):  # without playwright the tests are skipped
    from playwright.sync_api import Browser, Page, expect

pytestmark = BROWSER_MARKS


def test_overview_shows_the_figures_the_api_gives(stack: Stack, dashboard: Dashboard, page: Page) -> None:
    open_page(page, dashboard, "?page=overview", "Overview")
    opened = api(stack, "/api/v1/exceptions", state="open", since="30d", limit=5000)["exceptions"]
    stuck = api(stack, "/api/v1/transactions", status="stuck", since="24h", limit=5000)["transactions"]
    expect(page.locator('[data-testid="stMetricValue"]').first).to_be_visible()
    assert metric(page, "Open exceptions") == str(len(opened))
    assert metric(page, "Stuck transactions") == str(len(stuck))
    assert re.fullmatch(r"\d.*|—", metric(page, "Posting p95"))
    expect(page.get_by_text("Worst systems (open exceptions)")).to_be_visible()
    expect(page.locator(".gtitle", has_text="Throughput")).to_be_visible()
    shot(page, "overview")


def test_latency_and_sla_pages(stack: Stack, dashboard: Dashboard, page: Page) -> None:
    open_page(page, dashboard, "?page=latency&range=24h", "Posting latency")
    for title in ("Posting latency, invoice issued", "Posting latency distribution", "p95 posting latency by hour"):
        expect(page.locator(".gtitle", has_text=title)).to_be_visible()
    expect(page.get_by_text(re.compile(r"SLA 4h 00m")).first).to_be_attached()
    shot(page, "latency")
    open_page(page, dashboard, "?page=sla&flow=support_credit", "SLA breaches")
    doc = api(stack, "/api/v1/sla/breaches", since="24h", flow="support_credit", limit=5000)
    assert metric(page, "Completed late") == str(doc["late_complete"])
    assert metric(page, "Open and overdue") == str(doc["open_overdue"])
    expect(page.locator(".gtitle", has_text="SLA breaches by flow and stage")).to_be_visible()
    shot(page, "sla")


def test_lineage_search_shows_the_hops(stack: Stack, dashboard: Dashboard, page: Page) -> None:
    exc = api(stack, "/api/v1/exceptions", state="open", since="30d")["exceptions"][0]
    doc = api(stack, f"/api/v1/transactions/{exc['correlation_id']}")
    open_page(page, dashboard, "?page=lineage", "Lineage explorer")
    box = page.locator('input[aria-label^="Correlation ID or business key"]')
    box.fill(doc["correlation_id"])
    box.press("Enter")
    expect(page.get_by_text(f"Transaction {doc['correlation_id']}")).to_be_visible()
    expect(page.locator(".gtitle", has_text="Hop timeline")).to_be_visible()
    assert metric(page, "Hops") == str(len(doc["hops"]))
    assert metric(page, "Status") == doc["status"]
    grid = page.locator('[data-testid="stDataFrame"]').first
    expect(grid).to_be_visible()
    for hop in doc["hops"]:
        expect(page.locator(".gtitle", has_text="Entity graph")).to_be_visible()
        expect(page.locator("svg text", has_text=hop["entity_id"]).first).to_be_attached()
    expect(page).to_have_url(re.compile(r"page=lineage"))
    shot(page, "lineage")
    key = f"{exc['entity_type']}:{exc['entity_id']}"  # a business key, through a link that carries it
    open_page(page, dashboard, f"?page=lineage&q={key}", "Lineage explorer")
    expect(page.get_by_text(f"Transaction {doc['correlation_id']}")).to_be_visible()


def test_acknowledging_an_exception_drops_the_backlog(stack: Stack, dashboard: Dashboard, page: Page) -> None:
    before = api(stack, "/api/v1/exceptions", state="open", since="30d", limit=5000)["exceptions"]
    open_page(page, dashboard, "?page=exceptions", "Exception backlog")
    assert metric(page, "Open exceptions") == str(len(before))
    expect(page.locator(".gtitle", has_text="Open exceptions over time")).to_be_visible()
    shot(page, "exceptions")
    expect(page.get_by_text(f"Signed in as {stack.subject} (operator)")).to_be_visible()
    pick_row(page, 0)
    page.locator('input[aria-label="Note"]').fill("looking into it")
    page.get_by_role("button", name="Acknowledge 1").click()
    expect(page.get_by_text(re.compile(r"1 exception\(s\) now acknowledged: [0-9a-f]{16}"))).to_be_visible()
    expect(
        page.locator('[data-testid="stMetric"]')
        .filter(has_text="Open exceptions")
        .locator('[data-testid="stMetricValue"]')
    ).to_have_text(str(len(before) - 1))
    after = api(stack, "/api/v1/exceptions", state="open", since="30d", limit=5000)["exceptions"]
    assert len(after) == len(before) - 1
    acked = {e["id"] for e in before} - {e["id"] for e in after}
    got = api(stack, f"/api/v1/exceptions/{acked.pop()}")
    assert got["state"] == "acknowledged" and got["history"][-1]["actor"] == stack.subject
    shot(page, "exceptions_after_ack")


def test_an_api_that_is_down_shows_a_message(browser: Browser, tmp_path: Path) -> None:
    down = Dashboard(f"http://127.0.0.1:{free_port()}", tmp_path)
    try:
        down.wait_ready()
        opened = browser.new_page(viewport={"width": 1300, "height": 800})
        opened.set_default_timeout(WAIT_MS)
        opened.goto(f"{down.url}/?page=overview")
        expect(opened.get_by_text(re.compile("Cannot reach the lineage API"))).to_be_visible()
        expect(opened.locator('[data-testid="stException"]')).to_have_count(0)
        opened.screenshot(path=str(ARTIFACTS / "api_down.png"), full_page=True)
        opened.close()
    finally:
        down.stop()
