"""The dashboard in headless Chromium against a real stack with simulated data.

One stack and one Streamlit server per module; screenshots go to artifacts/dashboard/.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dashboard.launch import command
from tests.dashboard.stack import Stack, running_stack

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "dashboard"
WAIT_MS = 30_000

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover
    sync_playwright = None

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(240),
    pytest.mark.skipif(sync_playwright is None, reason="playwright is not installed (pip install playwright)"),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Dashboard:
    """A ``streamlit run`` subprocess on loopback, stopped with its process group."""

    def __init__(self, api_url: str, workdir: Path, token: str = "") -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "LEDGERLINE_API_URL": api_url, "LEDGERLINE_DASHBOARD_TOKEN": token}
        self.log = (workdir / f"streamlit-{self.port}.log").open("wb")
        self.process = subprocess.Popen(
            command(api_url, "127.0.0.1", self.port),
            cwd=workdir,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 45.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "streamlit exited early; see its log"
            try:
                if httpx.get(f"{self.url}/_stcore/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"streamlit did not come up within {timeout}s")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.log.close()


@pytest.fixture(scope="module")
def stack(chdb_path: Path) -> Iterator[Stack]:
    with running_stack(chdb_path, count=200, seed=7) as running:
        yield running


@pytest.fixture(scope="module")
def dashboard(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    running = Dashboard(stack.api_url, tmp_path_factory.mktemp("streamlit"), stack.token)
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    opened = browser.new_page(viewport={"width": 1500, "height": 2000})
    opened.set_default_timeout(WAIT_MS)
    yield opened
    opened.close()


def _api(stack: Stack, path: str, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {stack.token}"}
    return httpx.get(stack.api_url + path, params=params, headers=headers, timeout=30).json()


def _open(page: Page, dashboard: Dashboard, query: str, heading: str) -> None:
    page.goto(f"{dashboard.url}/{query}")
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0)  # the script run has finished
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def _metric(page: Page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_overview_shows_the_figures_the_api_gives(stack: Stack, dashboard: Dashboard, page: Page) -> None:
    _open(page, dashboard, "?page=overview", "Overview")
    opened = _api(stack, "/api/v1/exceptions", state="open", since="30d", limit=5000)["exceptions"]
    stuck = _api(stack, "/api/v1/transactions", status="stuck", since="24h", limit=5000)["transactions"]
    expect(page.locator('[data-testid="stMetricValue"]').first).to_be_visible()
    assert _metric(page, "Open exceptions") == str(len(opened))
    assert _metric(page, "Stuck transactions") == str(len(stuck))
    assert re.fullmatch(r"\d.*|—", _metric(page, "Posting p95 now"))
    expect(page.get_by_text("Worst systems (open exceptions)")).to_be_visible()
    expect(page.locator(".gtitle", has_text="Throughput")).to_be_visible()
    _shot(page, "overview")


def test_latency_and_sla_pages(stack: Stack, dashboard: Dashboard, page: Page) -> None:
    _open(page, dashboard, "?page=latency&range=24h", "Posting latency")
    for title in ("Posting latency, invoice issued", "Posting latency distribution", "p95 posting latency by hour"):
        expect(page.locator(".gtitle", has_text=title)).to_be_visible()
    expect(page.get_by_text(re.compile(r"SLA 4h 00m")).first).to_be_attached()
    _shot(page, "latency")
    _open(page, dashboard, "?page=sla&flow=support_credit", "SLA breaches")
    doc = _api(stack, "/api/v1/sla/breaches", since="24h", flow="support_credit", limit=5000)
    assert _metric(page, "Completed late") == str(doc["late_complete"])
    assert _metric(page, "Open and overdue") == str(doc["open_overdue"])
    expect(page.locator(".gtitle", has_text="SLA breaches by flow and stage")).to_be_visible()
    _shot(page, "sla")


def test_lineage_search_shows_the_hops(stack: Stack, dashboard: Dashboard, page: Page) -> None:
    exc = _api(stack, "/api/v1/exceptions", state="open", since="30d")["exceptions"][0]
    doc = _api(stack, f"/api/v1/transactions/{exc['correlation_id']}")
    _open(page, dashboard, "?page=lineage", "Lineage explorer")
    box = page.locator('input[aria-label^="Correlation ID or business key"]')
    box.fill(doc["correlation_id"])
    box.press("Enter")
    expect(page.get_by_text(f"Transaction {doc['correlation_id']}")).to_be_visible()
    expect(page.locator(".gtitle", has_text="Hops by system")).to_be_visible()
    assert _metric(page, "Hops") == str(len(doc["hops"]))
    assert _metric(page, "Status") == doc["status"]
    grid = page.locator('[data-testid="stDataFrame"]').first
    expect(grid).to_be_visible()
    for hop in doc["hops"]:
        expect(page.locator(".gtitle", has_text="Entity graph")).to_be_visible()
        expect(page.locator("svg text", has_text=hop["entity_id"]).first).to_be_attached()
    expect(page).to_have_url(re.compile(r"page=lineage"))
    _shot(page, "lineage")
    key = f"{exc['entity_type']}:{exc['entity_id']}"  # a business key, through a link that carries it
    _open(page, dashboard, f"?page=lineage&q={key}", "Lineage explorer")
    expect(page.get_by_text(f"Transaction {doc['correlation_id']}")).to_be_visible()


def test_acknowledging_an_exception_drops_the_backlog(stack: Stack, dashboard: Dashboard, page: Page) -> None:
    before = _api(stack, "/api/v1/exceptions", state="open", since="30d", limit=5000)["exceptions"]
    _open(page, dashboard, "?page=exceptions", "Exception backlog")
    assert _metric(page, "Open exceptions") == str(len(before))
    expect(page.locator(".gtitle", has_text="Open exceptions over time")).to_be_visible()
    _shot(page, "exceptions")
    expect(page.get_by_text(f"Signed in as {stack.subject} (operator)")).to_be_visible()
    page.locator('input[aria-label="Note"]').fill("looking into it")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_text(re.compile(r"Exception [0-9a-f]{16} is now acknowledged"))).to_be_visible()
    expect(
        page.locator('[data-testid="stMetric"]')
        .filter(has_text="Open exceptions")
        .locator('[data-testid="stMetricValue"]')
    ).to_have_text(str(len(before) - 1))
    after = _api(stack, "/api/v1/exceptions", state="open", since="30d", limit=5000)["exceptions"]
    assert len(after) == len(before) - 1
    acked = {e["id"] for e in before} - {e["id"] for e in after}
    got = _api(stack, f"/api/v1/exceptions/{acked.pop()}")
    assert got["state"] == "acknowledged" and got["history"][-1]["actor"] == stack.subject
    _shot(page, "exceptions_after_ack")


def test_an_api_that_is_down_shows_a_message(browser: Browser, tmp_path: Path) -> None:
    down = Dashboard(f"http://127.0.0.1:{_free_port()}", tmp_path)
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
