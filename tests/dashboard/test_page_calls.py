"""The API calls each page makes on a cold load (nothing cached): the sidebar and freshness line
one (``GET /api/v1/known``), the page's figures one or two. Run through Streamlit's AppTest (the
real script, no browser) against the real stack; the calls are counted by the API itself
(``ledgerline_api_requests_total`` on ``GET /metrics``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import data
from dashboard.launch import APP
from dashboard.views import exceptions
from tests.dashboard.stack import Stack

# Each page's cold load: route -> how many calls.
CALLS = {
    "overview": {"/api/v1/known": 1, "/api/v1/overview": 1},
    "sla": {"/api/v1/known": 1, "/api/v1/sla/breaches": 1},
    "drill": {"/api/v1/known": 1, "/api/v1/at-risk": 1},
    "exceptions": {"/api/v1/known": 1, "/api/v1/metrics/exception-backlog": 1, "/api/v1/exceptions": 1},
    "latency": {"/api/v1/known": 1, "/api/v1/metrics/posting-latency": 2},
    "flows": {"/api/v1/known": 1, "/api/v1/kpis": 1, "/api/v1/flows/{flow}/waiting": 1},
    "reconciliation": {
        "/api/v1/known": 1,
        "/api/v1/reconciliations": 1,  # the names for the picker
        "/api/v1/reconciliations/{name}": 1,
        "/api/v1/reconciliations/{name}/breaks": 1,
    },
}


def _calls(stack: Stack) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in httpx.get(f"{stack.api_url}/metrics", timeout=30).text.splitlines():
        if line.startswith("ledgerline_api_requests_total{") and 'route="/metrics"' not in line:
            labels, _, value = line.rpartition(" ")
            counts[labels.split('route="')[1].split('"')[0]] += int(float(value))
    return counts


@pytest.fixture
def app_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LEDGERLINE_API_URL", stack.api_url)
    monkeypatch.setenv("LEDGERLINE_DASHBOARD_TOKEN", stack.token)
    data.settings.cache_clear()
    yield
    data.settings.cache_clear()


def _cold_load(stack: Stack, page: str, **params: str) -> dict[str, int]:
    st.cache_data.clear()  # a cold load: no cached answer
    st.cache_resource.clear()
    app = AppTest.from_file(str(APP), default_timeout=120)
    app.query_params.update({"page": page, **params})
    before = _calls(stack)
    app.run()
    assert not app.exception and not [e.value for e in app.error], [e.value for e in app.error]
    assert any("page drawn" in c.value for c in app.caption), "the page did not finish"
    after = _calls(stack)
    return {route: n - before[route] for route, n in after.items() if n - before[route]}


@pytest.mark.parametrize("page", list(CALLS))
def test_a_page_fetches_its_figures_in_one_or_two_calls(stack: Stack, app_env: None, page: str) -> None:
    assert _cold_load(stack, page, **({"drill": "open_exceptions"} if page == "drill" else {})) == CALLS[page]


def test_the_sla_page_of_one_flow_asks_for_that_flow(stack: Stack, app_env: None) -> None:
    assert _cold_load(stack, "sla", flow="support_credit") == CALLS["sla"]


def _api(stack: Stack, **params: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {stack.token}"}
    response = httpx.get(f"{stack.api_url}/api/v1/exceptions", params=params, headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_the_backlog_lists_are_the_apis_filtered_answers(stack: Stack) -> None:
    """The exception backlog narrows one answer of every state and category; each list is exactly
    the API's answer with that state and category."""
    every = _api(stack, since="7d", limit=5000)
    categories = sorted({e["category"] for e in every["exceptions"] if e["category"]})
    assert categories and not every["truncated"]
    for state in exceptions.STATES:
        for category in ["", *categories]:
            narrowed = exceptions.narrow(every, state, category)
            assert narrowed is not None
            asked = ({} if state == "all" else {"state": state}) | ({"category": category} if category else {})
            wanted = _api(stack, since="7d", limit=5000, **asked)
            ids = [e["id"] for e in narrowed["exceptions"]]
            assert ids == [e["id"] for e in wanted["exceptions"]], (state, category)
    assert exceptions.narrow(every | {"truncated": True}, "open", "") is None  # cut: ask the API instead
