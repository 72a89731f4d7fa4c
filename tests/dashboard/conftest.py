"""Fixtures of the dashboard's browser tests: one stack, one Streamlit server and one Chromium
per module (module scope), a fresh page per test."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dashboard.browser import ARGS, ARTIFACTS, CHROMIUM, WAIT_MS, Dashboard, running_dashboard, sync_playwright
from tests.dashboard.stack import Stack, running_stack

with contextlib.suppress(ImportError):  # without playwright the tests are skipped
    from playwright.sync_api import Browser, Page


@pytest.fixture(scope="module")
def stack(chdb_path: Path) -> Iterator[Stack]:
    with running_stack(chdb_path, count=200, seed=7, alerts=True) as running:
        yield running


@pytest.fixture(scope="module")
def dashboard(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    with running_dashboard(stack.api_url, tmp_path_factory.mktemp("streamlit"), stack.token) as running:
        yield running


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
    opened = browser.new_page(viewport={"width": 1440, "height": 2000})
    opened.set_default_timeout(WAIT_MS)
    yield opened
    opened.close()
