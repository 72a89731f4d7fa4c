"""The "Why?" panel in headless Chromium over a simulation with a planted cause (ERP postings of
one legal entity fail from eight hours ago): on the Flows page the panel names it and the change
point is drawn on the page's failure-rate series and on the panel's own; on the exception
backlog it is drawn on the backlog's chart once the panel is open."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ledgerline.simulator.causes import Cause
from tests.dashboard.browser import ARTIFACTS, BROWSER_MARKS, WAIT_MS, Dashboard, running_dashboard
from tests.dashboard.browser import open_page as _open
from tests.dashboard.stack import FlowsStack, running_flows_stack

with contextlib.suppress(ImportError):
    from playwright.sync_api import Page, expect

pytestmark = BROWSER_MARKS  # the browser and page fixtures come from tests/dashboard/conftest.py

OUTAGE = Cause("erp_outage:LL-DE-GmbH", "ledger.posted", 8 * 3600, legal_entity="LL-DE-GmbH", fail_rate=0.9)


@pytest.fixture(scope="module")
def why_stack(chdb_path: Path) -> Iterator[FlowsStack]:
    with running_flows_stack(chdb_path, "why", count=600, causes=(OUTAGE,)) as running:
        yield running


@pytest.fixture(scope="module")
def why_dashboard(why_stack: FlowsStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    with running_dashboard(why_stack.api_url, tmp_path_factory.mktemp("streamlit_why"), why_stack.token) as running:
        yield running


def _explain(stack: FlowsStack) -> dict:
    """The API's answer to what the page's panel asks: failed order-to-cash steps over 24 h."""
    return httpx.get(
        f"{stack.api_url}/api/v1/explain",
        params={"subject": "failed", "flow": "order_to_cash", "since": "24h"},
        headers={"Authorization": f"Bearer {stack.token}"},
        timeout=60,
    ).json()


def test_flows_page_says_why_and_marks_when_it_started(
    why_stack: FlowsStack, why_dashboard: Dashboard, page: Page
) -> None:
    doc = _explain(why_stack)
    assert doc["findings"][0]["dimensions"] == [{"dimension": "legal_entity", "value": "LL-DE-GmbH"}], doc
    assert doc["change_point"] is not None
    _open(page, why_dashboard, "?page=flows&flow=order_to_cash&range=24h", "Flows")
    expect(page.locator(".gtitle", has_text="posting_failure_rate (failure_rate)")).to_be_visible(timeout=WAIT_MS)
    page.get_by_text("Why? What the failed ones have in common").click()
    page.get_by_text("Explain", exact=True).click()
    expect(page.get_by_text("legal_entity=LL-DE-GmbH", exact=True).first).to_be_attached(timeout=WAIT_MS)
    # the change point on the page's failure-rate series and on the panel's share of failures
    kpi = page.locator(".js-plotly-plot", has=page.locator(".gtitle", has_text="posting_failure_rate"))
    share = page.locator(".js-plotly-plot", has=page.locator(".gtitle", has_text="Failed share of entity-steps"))
    for plot in (kpi, share):
        expect(plot.locator(".annotation-text", has_text="started ")).to_be_visible(timeout=WAIT_MS)
        expect(plot.locator(".shapelayer path")).not_to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "flows_why.png"), full_page=True)


def test_the_exception_backlog_marks_when_failures_rose_once_why_is_open(
    why_stack: FlowsStack, why_dashboard: Dashboard, page: Page
) -> None:
    doc = _explain(why_stack)
    assert doc["change_point"] is not None, doc  # the flow's failures rose with the planted outage
    _open(page, why_dashboard, "?page=exceptions&range=24h&flow=order_to_cash", "Exception backlog")
    backlog = page.locator(".js-plotly-plot", has=page.locator(".gtitle", has_text="Open exceptions over time"))
    expect(backlog).to_be_visible(timeout=WAIT_MS)
    expect(backlog.locator(".annotation-text", has_text="started ")).to_have_count(0)  # closed: not asked
    page.get_by_text("Why? What the failed ones have in common").click()
    page.get_by_text("Explain", exact=True).click()
    expect(backlog.locator(".annotation-text", has_text="started ")).to_be_visible(timeout=WAIT_MS)
    expect(backlog.locator(".shapelayer path")).not_to_have_count(0)
