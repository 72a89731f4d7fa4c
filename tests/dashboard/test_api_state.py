"""The API client's error mapping, the URL state and the launch command."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import parse_qsl

import httpx
import pytest

from dashboard import launch
from dashboard.api import ApiClient, ApiError, credential
from dashboard.settings import DashboardSettings
from dashboard.state import PAGES, Filters, carry, from_params, link, problems, to_params


def _client(handler: object) -> ApiClient:
    return ApiClient("http://api.test/", transport=httpx.MockTransport(handler))  # type: ignore[arg-type]


def test_requests_drop_empty_params_and_quote_paths() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"transactions": [{"correlation_id": "x"}]})

    api = _client(handler)
    api.exceptions(state="open", system="", category=None)
    assert seen[-1].url.params == httpx.QueryParams({"state": "open"})
    assert api.lookup("invoice:INV/1") == {"transactions": [{"correlation_id": "x"}]}
    assert seen[-1].url.path == "/api/v1/search" and seen[-1].url.params["q"] == "invoice:INV/1"
    api.lookup(" abc-123 ")
    assert seen[-1].url.params["q"] == "abc-123"
    api.act("0123456789abcdef", "ack", "looking")
    assert seen[-1].method == "POST" and json.loads(seen[-1].content) == {"note": "looking"}
    assert "authorization" not in seen[-1].headers
    signed = ApiClient("http://api.test/", transport=httpx.MockTransport(handler), token="llt_x")  # type: ignore[arg-type]
    signed.whoami()
    assert seen[-1].headers["authorization"] == "Bearer llt_x" and seen[-1].url.path == "/api/v1/whoami"


def test_the_credential_is_the_forwarded_person_or_the_service_token() -> None:
    service = DashboardSettings(dashboard_token=" llt_service ")
    assert credential(service, {"X-Forwarded-Access-Token": "jwt.of.person"}) == "llt_service"
    proxied = DashboardSettings(
        dashboard_token="llt_service", dashboard_forwarded_token_header="X-Forwarded-Access-Token"
    )
    assert credential(proxied, {"X-Forwarded-Access-Token": "jwt.of.person"}) == "jwt.of.person"
    assert credential(proxied, {"x-forwarded-access-token": "Bearer jwt.of.person"}) == "jwt.of.person"
    # Behind the proxy, no header means nobody signed in: never the service token.
    assert credential(proxied, {}) == ""
    assert credential(DashboardSettings(), {}) == ""


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGERLINE_API_URL", "http://api.example:9000")
    monkeypatch.setenv("LEDGERLINE_DASHBOARD_TOKEN", "llt_env")
    monkeypatch.setenv("LEDGERLINE_POSTING_SLA_MS", "60000")
    monkeypatch.setenv("LEDGERLINE_DASHBOARD_CACHE_TTL_S", "5")
    got = DashboardSettings()
    assert (got.api_url, got.dashboard_token, got.posting_sla_ms, got.dashboard_cache_ttl_s) == (
        "http://api.example:9000",
        "llt_env",
        60000,
        5.0,
    )
    monkeypatch.setenv("LEDGERLINE_POSTING_SLA_MS", "-1")
    with pytest.raises(ValueError, match="posting_sla_ms"):
        DashboardSettings()


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, {"detail": "no hops stored for correlation ID 'x'"}, "Not found: no hops stored"),
        (422, {"detail": [{"msg": "bad since"}]}, "refused the request: bad since"),
        (503, {"detail": "the store is unavailable: boom"}, "answered 503: the store is unavailable"),
    ],
)
def test_http_errors_become_api_errors(status: int, body: object, expected: str) -> None:
    api = _client(lambda request: httpx.Response(status, json=body))
    with pytest.raises(ApiError, match=expected) as info:
        api.transaction("x")
    assert info.value.status == status


def test_unreachable_slow_and_garbage_answers() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow")

    with pytest.raises(ApiError, match=r"Cannot reach the lineage API at http://api.test"):
        _client(refuse).backlog()
    with pytest.raises(ApiError, match="did not answer in time"):
        _client(slow).backlog()
    with pytest.raises(ApiError, match="not JSON"):
        _client(lambda r: httpx.Response(200, text="<html>")).backlog()
    with pytest.raises(ApiError, match="Not signed in to the lineage API: authentication required"):
        _client(lambda r: httpx.Response(401, json={"detail": "authentication required"})).backlog()
    with pytest.raises(ApiError, match="Not allowed: role 'viewer' lacks"):
        _client(lambda r: httpx.Response(403, json={"detail": "role 'viewer' lacks the 'act' permission"})).act(
            "0123456789abcdef", "ack"
        )
    with pytest.raises(ApiError, match="Enter a correlation ID"):
        _client(lambda r: httpx.Response(200, json={})).lookup("  ")


def test_filters_round_trip_through_query_params() -> None:
    f = from_params({"page": "lineage", "correlation_id": "X", "range": "7d", "region": ["eu-west"]})
    assert (f.page, f.correlation_id, f.range, f.region, f.bucket) == ("lineage", "X", "7d", "eu-west", "6h")
    assert from_params(to_params(f)) == f
    assert to_params(Filters()) == {}
    assert from_params({"page": "nope", "range": "1y", "refresh": "1s"}) == Filters()
    assert link(Filters(), page="lineage", correlation_id="A B") == "?page=lineage&correlation_id=A+B"


def test_the_context_of_every_figure_call_is_the_whole_url_context() -> None:
    f = from_params(
        {"range": "custom", "start": "2026-12-01T06:00", "end": "2026-12-01T12:00", "flow": "disputes",
         "system": "erp", "region": "eu-west", "legal_entity": "acme-de", "page": "overview"}
    )  # fmt: skip
    assert f.context() == {
        "since": "2026-12-01T06:00", "until": "2026-12-01T12:00", "flow": "disputes", "system": "erp",
        "region": "eu-west", "legal_entity": "acme-de",
    }  # fmt: skip
    assert Filters(range="6h").context()["since"] == "6h" and Filters(range="6h").context()["until"] == ""
    picked = from_params({"page": "reconciliation", "rec": "billing_vs_erp", "heat_by": "region"})
    assert (picked.rec, picked.heat_by) == ("billing_vs_erp", "region") and from_params(to_params(picked)) == picked


def test_what_a_link_asked_for_and_cannot_be_shown_is_named() -> None:
    assert problems({"page": "overview", "range": "6h"}) == []
    assert problems({"page": "overveiw"}) == [
        f"Unknown page 'overveiw' in the link; known: {', '.join(PAGES)}. Showing the overview instead."
    ]
    assert "overview, latency" in ", ".join(PAGES) and "close" in PAGES
    [bad_date] = problems({"range": "custom", "start": "2026-13-01T06:00", "end": "2026-12-01T12:00"})
    assert bad_date.startswith("Custom range 2026-13-01T06:00 → 2026-12-01T12:00 not used (")
    assert bad_date.endswith("showing the last 24h instead.")
    [backwards] = problems({"range": "custom", "start": "2026-12-02", "end": "2026-12-01"})
    assert "the end of the range must be after its start" in backwards
    assert "needs both a start and an end" in problems({"range": "custom", "start": "2026-12-01"})[0]
    assert problems({"range": "1y"}) == [
        "Unknown range '1y'; known: 6h, 24h, 7d, 30d, custom. Showing the last 24h instead."
    ]


def test_an_alert_link_keeps_the_viewers_context_under_its_own_filters() -> None:
    viewer = Filters(page="alerts", range="6h", region="eu-west", legal_entity="acme-de", system="crm")
    carried = carry(viewer, "http://dash.test:8501/?page=sla&flow=disputes&stage=credit")
    assert from_params(dict(parse_qsl(carried[1:]))) == Filters(
        page="sla", range="6h", region="eu-west", legal_entity="acme-de", system="crm", flow="disputes", stage="credit"
    )
    assert from_params(dict(parse_qsl(carry(viewer, "/?page=latency&system=erp")[1:]))).system == "erp"
    assert carry(viewer, "https://elsewhere.test/?x=1") == "https://elsewhere.test/?x=1"


def test_launch_command_is_headless_streamlit_on_the_given_address() -> None:
    argv = launch.command("http://api:8000", "127.0.0.1", 8599)
    assert argv[:4] == [sys.executable, "-m", "dashboard.serve", "run"] and argv[4].endswith("dashboard/app.py")
    joined = " ".join(argv)
    assert "--server.headless true" in joined and "--server.port 8599" in joined
    assert "--server.address 127.0.0.1" in joined and argv[-2:] == ["--api-url", "http://api:8000"]


def test_the_launcher_is_streamlits_own_command_line() -> None:
    """dashboard/serve.py preloads the drawing libraries and hands the argv to Streamlit's CLI."""
    done = subprocess.run([sys.executable, "-m", "dashboard.serve", "version"], capture_output=True, timeout=60)
    assert done.returncode == 0 and b"Streamlit, version" in done.stdout, done.stderr


def test_cli_registers_dashboard(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from dashboard import cli

    started: list[list[str]] = []

    class FakePopen:
        def __init__(self, argv: list[str]) -> None:
            started.append(argv)

        def wait(self, timeout: float | None = None) -> int:
            return 0

        def poll(self) -> int:
            return 0

    monkeypatch.setattr(cli.subprocess, "Popen", FakePopen)
    monkeypatch.setenv("LEDGERLINE_API_URL", "http://lineage:9000")
    monkeypatch.setenv("LEDGERLINE_DASHBOARD_PORT", "8700")
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["dashboard", "--port", "8600"])  # the flag wins over the setting
    assert args.func(args) == 0
    assert started[0][-2:] == ["--api-url", "http://lineage:9000"] and "8600" in started[0]
    args = parser.parse_args(["dashboard"])  # the setting wins over the default
    assert args.func(args) == 0
    assert started[1][started[1].index("--server.port") + 1] == "8700"
