"""``ledgerline demo`` moves with its settings (flag > ``LEDGERLINE_*_PORT`` > default), links
and hints name the ports in use, it says that firing alerts go nowhere without a receiver,
and its history runs at its live rate (issue 22)."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import httpx
import pytest

from alerts.routing import EXAMPLE_RECEIVERS, load_receivers
from collector.settings import CollectorSettings
from ledgerline.cli import build_parser
from ledgerline.config import load_serve_config
from ledgerline.demo import sim_config
from tests.processes import Command, free_port, ledgerline_env, wait_http

pytestmark = pytest.mark.timeout(240)


def _urls(demo: Command) -> dict[str, str]:
    """The ``  name   url`` lines printed so far."""
    lines = [re.match(r"\s+(\w+)\s+(\S+)", line) for line in demo.stdout]
    return {m.group(1): m.group(2) for m in lines if m}


def test_the_demo_follows_its_port_settings_and_links_the_ports_in_use(tmp_path: Path) -> None:
    http, grpc, api, dashboard = (free_port() for _ in range(4))
    env = ledgerline_env(
        tmp_path,
        LEDGERLINE_HTTP_PORT=str(http),
        LEDGERLINE_GRPC_PORT=str(grpc),
        LEDGERLINE_API_PORT=str(api),
        LEDGERLINE_DASHBOARD_PORT=str(dashboard),
    )
    demo = Command("demo", "--backfill", "10m", "--rate", "1", env=env)  # no port flags: `make demo`
    try:
        demo.wait_for("Ctrl-C to stop")
        urls = _urls(demo)
        out = "".join(demo.stdout)
        assert urls["otlp_http"] == f"http://127.0.0.1:{http}/v1/traces"
        assert urls["otlp_grpc"] == f"127.0.0.1:{grpc}"
        assert urls["api"] == f"http://127.0.0.1:{api}/docs"
        assert urls["dashboard"] == f"http://127.0.0.1:{dashboard}"
        assert f"alerts     links to http://127.0.0.1:{dashboard}\n" in out
        assert f"LEDGERLINE_API_URL=http://127.0.0.1:{api} LEDGERLINE_API_TOKEN={urls['token']} ledgerline trace" in out
        # no receiver: said, with the line that adds one (a config the server accepts)
        assert "no receiver configured: firing alerts show on the dashboard's Alerts page and are sent nowhere" in out
        assert f"LEDGERLINE_ALERT_RECEIVERS='{EXAMPLE_RECEIVERS}' make demo" in out
        assert load_receivers(EXAMPLE_RECEIVERS).receivers
        # the history at the live rate: 10 minutes at 1/s
        assert "backfilling 10m of history (600 transactions, 3,600/h), then live traffic at the same rate" in out
        # everything answers where it says
        assert httpx.get(f"http://127.0.0.1:{api}/healthz", timeout=10).status_code == 200
        wait_http(f"http://127.0.0.1:{dashboard}/_stcore/health")
        headers = {"Authorization": f"Bearer {urls['token']}"}
        alerts = httpx.get(f"http://127.0.0.1:{api}/api/v1/alerts", headers=headers, timeout=10).json()
        assert alerts["receivers"] == []
        links = [a["annotations"]["dashboard_url"] for a in alerts["alerts"] if "dashboard_url" in a["annotations"]]
        assert all(link.startswith(f"http://127.0.0.1:{dashboard}/?page=") for link in links), links
        demo.signal(signal.SIGTERM)
        assert demo.exit_code(90) == 0
    finally:
        demo.kill()


def test_flags_win_over_the_settings(tmp_path: Path) -> None:
    api, dashboard = free_port(), free_port()
    env = ledgerline_env(
        tmp_path,
        LEDGERLINE_API_PORT=str(free_port()),
        LEDGERLINE_DASHBOARD_PORT=str(free_port()),
    )
    demo = Command(
        "demo",
        *("--no-dashboard", "--backfill", "1m", "--rate", "60/min", "--http-port", "0", "--grpc-port", "0"),
        *("--api-port", str(api), "--dashboard-port", str(dashboard)),
        env=env,
    )
    try:
        demo.wait_for("Ctrl-C to stop")
        out = "".join(demo.stdout)
        assert _urls(demo)["api"] == f"http://127.0.0.1:{api}/docs"
        assert f"alerts     links to http://127.0.0.1:{dashboard}\n" in out
        assert f"LEDGERLINE_API_URL=http://127.0.0.1:{api} " in out
        demo.signal(signal.SIGINT)
        assert demo.exit_code(90) == 0
    finally:
        demo.kill()


def test_alert_links_follow_the_dashboard_port_unless_a_url_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """``serve`` too: LEDGERLINE_DASHBOARD_PORT moves the links, LEDGERLINE_DASHBOARD_URL (a proxy) wins."""
    assert load_serve_config(CollectorSettings()).alerts.dashboard_url == "http://127.0.0.1:8501"
    monkeypatch.setenv("LEDGERLINE_DASHBOARD_PORT", "8600")
    assert load_serve_config(CollectorSettings()).alerts.dashboard_url == "http://127.0.0.1:8600"
    monkeypatch.setenv("LEDGERLINE_DASHBOARD_URL", "https://dash.example.com")
    assert load_serve_config(CollectorSettings()).alerts.dashboard_url == "https://dash.example.com"


def test_the_history_runs_at_the_live_rate() -> None:
    """The default demo's day of history has as many transactions per hour as its live traffic,
    so the charts do not jump at "now" and the trends do not all point up."""
    parser = build_parser()
    for argv, per_h in (
        (["demo"], 200),
        (["demo", "--rate", "2"], 7200),
        (["demo", "--rate", "30/min", "--backfill", "2h"], 1800),
    ):
        args = parser.parse_args(argv)
        config = sim_config(args, "http://127.0.0.1:1/v1/traces", 0, 0)
        assert round(config.rate * 3600) == per_h
        assert config.backfill_total / (config.backfill_s / 3600) == pytest.approx(per_h, rel=0.001)
    with pytest.raises(SystemExit):
        parser.parse_args(["demo", "--rate", "fast"])
