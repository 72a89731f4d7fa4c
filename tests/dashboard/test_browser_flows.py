"""The Flows and Reconciliation pages in headless Chromium over a stack filled by a mixed
simulation (every flow, with its faults): the figures on screen are the API's."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.service import UvicornThread
from collector.settings import StoreSettings
from collector.store import open_store
from ledgerline.schema import migrate_all
from ledgerline.simulator.config import SimConfig
from ledgerline.simulator.runner import Summary, run_simulation
from lineage.api.app import create_app
from lineage.settings import LineageSettings
from tests.conftest import start_collector
from tests.dashboard.browser import ARTIFACTS, BROWSER_MARKS, WAIT_MS, Dashboard
from tests.dashboard.browser import open_page as _open
from tests.lineage.auth.helpers import issue

with contextlib.suppress(ImportError):
    from playwright.sync_api import Page, expect

pytestmark = BROWSER_MARKS  # the browser and page fixtures come from tests/dashboard/conftest.py
MIX = {"order_to_cash": 0.4, "payment_sync": 0.3, "disputes": 0.2}
FAULTS = {"billing_lag": 0.25, "posting_reversed": 0.15, "crm_outage": 0.3}


@pytest.fixture(scope="module")
def flows_stack(chdb_path: Path) -> Iterator[tuple[str, str, Summary]]:
    database = f"dash_flows_{os.getpid()}"
    store = open_store(StoreSettings(clickhouse_url=f"chdb://{chdb_path}", clickhouse_database=database))
    migrate_all(store)
    collector = start_collector(store)
    api = None
    try:
        config = SimConfig(
            seed=5,
            backfill_s=86400,
            backfill_count=150,
            endpoint=f"http://127.0.0.1:{collector.http_port}/v1/traces",
            now_ns=time.time_ns(),
            live=False,
            flow_mix=MIX,
            flow_fault_rates=FAULTS,
        )
        summary = run_simulation(config, out=None)
        settings = LineageSettings(clickhouse_url=store.dsn, clickhouse_database=store.database)
        api = UvicornThread(create_app(settings, store), "127.0.0.1", 0)
        api.start()
        yield f"http://127.0.0.1:{api.port}", issue(store, "viewer", "flows@test.example"), summary
    finally:
        if api is not None:
            api.stop(10)
        collector.stop()
        store.command("DROP DATABASE IF EXISTS {db:Identifier}", {"db": database})


@pytest.fixture(scope="module")
def flows_dashboard(
    flows_stack: tuple[str, str, Summary], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dashboard]:
    api_url, token, _ = flows_stack
    # Streamlit imports the dashboard package from this checkout (a shared venv may hold another).
    root = str(Path(__file__).resolve().parents[2])
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [root, before]))
    try:
        running = Dashboard(api_url, tmp_path_factory.mktemp("streamlit_flows"), token)
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


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
