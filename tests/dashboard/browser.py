"""Shared parts of the browser tests: a Streamlit subprocess on loopback, Chromium through
Playwright (Debian's chromium, no browser download), and page helpers."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from dashboard import formats
from dashboard.launch import APP, command
from tests.dashboard.stack import Stack

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
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "dashboard"
WAIT_MS = 30_000

try:
    from playwright.sync_api import Page, expect, sync_playwright

    expect.set_options(timeout=15_000)  # figures draw slowly on a busy two-core machine
except ImportError:  # pragma: no cover
    sync_playwright = None  # type: ignore[assignment]

BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.timeout(240),
    pytest.mark.skipif(sync_playwright is None, reason="playwright is not installed (pip install playwright)"),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Dashboard:
    """A ``streamlit run`` subprocess on loopback, stopped with its process group."""

    def __init__(self, api_url: str, workdir: Path, token: str = "", root: Path = ROOT, **settings: str) -> None:
        """``root``: the checkout to serve (another one for before/after timings); ``settings``: more
        ``LEDGERLINE_*`` variables, e.g. ``LEDGERLINE_DASHBOARD_CACHE_TTL_S="1"``."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, **settings, "LEDGERLINE_API_URL": api_url, "LEDGERLINE_DASHBOARD_TOKEN": token}
        # this checkout's packages, not whichever checkout the virtualenv was installed from
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH", "")]))
        argv = command(api_url, "127.0.0.1", self.port)
        argv[argv.index(str(APP))] = str(root / "dashboard" / "app.py")
        if not (root / "dashboard" / "serve.py").exists():  # a checkout from before the launcher
            argv[argv.index("dashboard.serve")] = "streamlit"
        self.log = (workdir / f"streamlit-{self.port}.log").open("wb")
        self.process = subprocess.Popen(
            argv,
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


@contextmanager
def running_dashboard(api_url: str, workdir: Path, token: str = "") -> Iterator[Dashboard]:
    """A ready dashboard (this checkout's) against ``api_url``, stopped afterwards."""
    running = Dashboard(api_url, workdir, token)
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


def api(stack: Stack, path: str, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {stack.token}"}
    return httpx.get(stack.api_url + path, params=params, headers=headers, timeout=30).json()


def open_page(page: Page, dashboard: Dashboard, query: str, heading: str) -> None:
    page.goto(f"{dashboard.url}/{query}")
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0)  # the script run has finished
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def metric(page: Page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def drill_card(total: dict[str, Any]) -> tuple[str, str]:
    """(label, value) of a drill-down headline card for an at-risk total: its full amount in its
    currency, or "amount unknown" for the items without one."""
    n = formats.plural(total["count"], "item")
    label = f"{total['currency']} ({n})" if total["currency"] else f"{n} without an amount"
    return label, formats.total(total["amount"], total["currency"])


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def drawn(page: Page) -> None:
    """The page's last element (the freshness line) is on screen: the script ran to the end."""
    expect(page.get_by_text(re.compile("page drawn")).first).to_be_visible(timeout=WAIT_MS)


def pick_row(page: Page, row: int, grid: int = 0) -> None:
    """Tick the selection box of a data row of a grid (drawn on a canvas: by position)."""
    box = page.locator('[data-testid="stDataFrame"]').nth(grid).bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 18, box["y"] + 35 * (row + 1) + 17)
