"""The API's own health on ``GET /metrics``: every request counted under its route template and
status class, on a real server on loopback with auth on; nothing of a request's path or data
in a label."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from collector.service import UvicornThread
from collector.store import Store
from lineage.api import telemetry
from lineage.api.app import create_app
from lineage.settings import LineageSettings
from tests.lineage.auth.helpers import bearer, issue
from tests.metrics import scrape

pytestmark = pytest.mark.timeout(120)
ONE = "/api/v1/transactions/{correlation_id}"


@pytest.fixture
def api(store: Store) -> Iterator[str]:
    settings = LineageSettings(clickhouse_url=store.dsn, clickhouse_database=store.database)
    server = UvicornThread(create_app(settings, store), "127.0.0.1", 0)
    server.start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


def test_requests_are_counted_per_route_template_and_status_class(api: str, store: Store) -> None:
    auth = bearer(issue(store, "viewer"))
    with httpx.Client(base_url=api, timeout=30) as client:
        assert client.get("/api/v1/transactions", headers=auth).status_code == 200
        assert client.get("/api/v1/transactions/C-SECRET-42", headers=auth).status_code == 404
        assert client.get("/api/v1/transactions/C-SECRET-43", headers=auth).status_code == 404
        assert client.get("/api/v1/transactions", params={"limit": "many"}, headers=auth).status_code == 422
        assert client.get("/api/v1/transactions/C-SECRET-44").status_code == 401  # refused before routing
        assert client.delete("/api/v1/transactions/C-SECRET-45", headers=auth).status_code == 405
        assert client.get("/no/such/path/C-SECRET-46").status_code == 404
        assert client.request("BREW", "/api/v1/transactions", headers=auth).status_code == 405
        store.command("DETACH TABLE hops")
        try:
            assert client.get("/api/v1/transactions/C-SECRET-47", headers=auth).status_code == 503
        finally:
            store.command("ATTACH TABLE hops")
    scraped = scrape(f"{api}/metrics")  # no credential needed
    count = "ledgerline_api_requests_total"
    assert scraped.get(count, method="GET", route="/api/v1/transactions", status_class="2xx") == 1
    assert scraped.get(count, method="GET", route="/api/v1/transactions", status_class="4xx") == 1
    assert scraped.get(count, method="GET", route=ONE, status_class="4xx") == 3  # two 404s, one 401
    assert scraped.get(count, method="GET", route=ONE, status_class="5xx") == 1
    assert scraped.get(count, method="DELETE", route=ONE, status_class="4xx") == 1
    assert scraped.get(count, method="GET", route="unmatched", status_class="4xx") == 1
    assert scraped.get(count, method="other", route="/api/v1/transactions", status_class="4xx") == 1
    assert scraped.get("ledgerline_api_request_duration_seconds_count", method="GET", route=ONE) == 4
    assert scraped.get("ledgerline_api_requests_in_progress") == 1  # this scrape
    # Templates only: no raw path, no identifier, whatever the client sent.
    assert "SECRET" not in scraped.text and "/no/such" not in scraped.text and "BREW" not in scraped.text
    routes = scraped.label_values(count, "route")
    assert all(r == "unmatched" or r.startswith("/") for r in routes), routes
    # The worker of this app reports into the same registry.
    assert "ledgerline_replay_due" in scraped.families
    again = scrape(f"{api}/metrics")
    assert again.get(count, method="GET", route="/metrics", status_class="2xx") == 1


def test_an_unhandled_error_is_a_5xx_of_its_route() -> None:
    app = FastAPI()

    @app.get("/boom/{n}")
    def boom(n: int) -> None:
        raise RuntimeError("a bug")

    app.state.registry = CollectorRegistry()
    telemetry.install(app, app.state.registry)
    app.include_router(telemetry.router)
    server = UvicornThread(app, "127.0.0.1", 0)
    server.start()
    try:
        url = f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{url}/boom/1", timeout=10).status_code == 500
        scraped = scrape(f"{url}/metrics")
    finally:
        server.stop()
    assert scraped.get("ledgerline_api_requests_total", method="GET", route="/boom/{n}", status_class="5xx") == 1
    assert scraped.get("ledgerline_api_requests_in_progress") == 1
