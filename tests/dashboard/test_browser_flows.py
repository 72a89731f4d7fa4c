"""The Flows and Reconciliation pages in headless Chromium over a stack filled by a mixed
simulation (every flow, with its faults): the figures on screen are the API's."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledgerline.simulator.runner import Summary
from tests.dashboard.browser import ARTIFACTS, BROWSER_MARKS, WAIT_MS, Dashboard, running_dashboard
from tests.dashboard.browser import open_page as _open
from tests.dashboard.stack import running_flows_stack

with contextlib.suppress(ImportError):
    from playwright.sync_api import Page, expect

pytestmark = BROWSER_MARKS  # the browser and page fixtures come from tests/dashboard/conftest.py


@pytest.fixture(scope="module")
def flows_stack(chdb_path: Path) -> Iterator[tuple[str, str, Summary]]:
    with running_flows_stack(chdb_path, "flows") as running:
        yield running.api_url, running.token, running.summary


@pytest.fixture(scope="module")
def flows_dashboard(
    flows_stack: tuple[str, str, Summary], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dashboard]:
    api_url, token, _ = flows_stack
    with running_dashboard(api_url, tmp_path_factory.mktemp("streamlit_flows"), token) as running:
        yield running


def test_flows_page_shows_kpis_and_waiting_queues(
    flows_stack: tuple[str, str, Summary], flows_dashboard: Dashboard, page: Page
) -> None:
    summary = flows_stack[2]
    _open(page, flows_dashboard, "?page=flows&flow=order_to_cash&range=24h", "Flows")
    expect(page.locator(".gtitle", has_text="order_to_invoice_cycle (latency)")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator(".gtitle", has_text="posting_failure_rate (failure_rate)")).to_be_visible(timeout=WAIT_MS)
    billing = page.locator('[data-testid="stMetric"]', has_text="billing (after order)")
    expect(billing.locator('[data-testid="stMetricValue"]')).to_have_text(str(summary.details["billing_lag:pending"]))
    page.get_by_text(f"{summary.details['billing_lag:pending']} waiting for billing").click()
    expect(page.locator('[data-testid="stDataFrame"]').first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "flows.png"), full_page=True)


def test_reconciliation_page_shows_breaks(
    flows_stack: tuple[str, str, Summary], flows_dashboard: Dashboard, page: Page
) -> None:
    summary = flows_stack[2]
    _open(page, flows_dashboard, "?page=reconciliation&range=7d", "Reconciliation")
    expect(page.locator(".gtitle", has_text="Breaks per day and legal entity")).to_be_visible(timeout=WAIT_MS)
    compensated = page.locator('[data-testid="stMetric"]', has_text="compensated")
    expect(compensated.locator('[data-testid="stMetricValue"]')).to_have_text(str(summary.faults["posting_reversed"]))
    page.screenshot(path=str(ARTIFACTS / "reconciliation.png"), full_page=True)
