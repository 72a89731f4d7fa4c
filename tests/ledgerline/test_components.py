"""``serve --components``: only the chosen parts run, and a wrong name is refused up front."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from ledgerline.cli import build_parser
from ledgerline.server import COMPONENTS
from tests.ledgerline.test_cli import LEDGERLINE, _env, _read_urls
from tests.metrics import scrape


def test_components_default_to_all_and_parse_a_list() -> None:
    parser = build_parser()
    assert parser.parse_args(["serve"]).components == COMPONENTS == {"collector", "api", "alerts", "sealer"}
    assert parser.parse_args(["serve", "--components", "collector, api"]).components == {"collector", "api"}


def test_an_unknown_component_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["serve", "--components", "collector,pager"])
    assert exited.value.code == 2
    assert "unknown component(s) pager" in capsys.readouterr().err


def test_serve_runs_only_the_api_when_asked(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*LEDGERLINE, "serve", "--components", "api", "--api-port", "0", "--http-port", "0", "--grpc-port", "0"],
        env=_env(tmp_path, LEDGERLINE_API_AUTH="off"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        urls = _read_urls(process)
        assert "api" in urls and "otlp_http" not in urls and "otlp_grpc" not in urls
        api = urls["api"].removesuffix("/docs")
        assert httpx.get(f"{api}/healthz", timeout=10).status_code == 200
        assert httpx.get(f"{api}/readyz", timeout=10).status_code == 200
        assert httpx.get(f"{api}/api/v1/alerts", timeout=10).status_code == 200
        # Its health is on the API's /metrics (no collector here): the API and the replay worker,
        # no ingest, and no alert rounds or seals (this process neither evaluates nor seals).
        assert urls["metrics"] == f"{api}/metrics"
        scraped = scrape(urls["metrics"])
        assert scraped.get("ledgerline_api_requests_total", method="GET", route="/healthz", status_class="2xx") == 1
        assert {"ledgerline_replay_due", "process_resident_memory_bytes"} <= scraped.families
        assert not {
            f for f in scraped.families if f.startswith(("ledgerline_spans", "ledgerline_alert", "ledgerline_seal"))
        }
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, out


def test_serve_runs_only_the_collector_without_a_seal_key(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*LEDGERLINE, "serve", "--components", "collector", "--api-port", "0", "--http-port", "0", "--grpc-port", "0"],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        urls = _read_urls(process)
        assert "otlp_http" in urls and "api" not in urls and "seal_key" not in urls
        base = urls["otlp_http"].removesuffix("/v1/traces")
        assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
        scraped = scrape(urls["metrics"])  # ingest only: no API, alert, seal or replay metrics
        assert "ledgerline_spans_received" in scraped.families
        assert not {
            f for f in scraped.families if f.startswith(("ledgerline_api", "ledgerline_alert", "ledgerline_seal"))
        }
        assert not {f for f in scraped.families if f.startswith("ledgerline_replay")}
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, out
    assert not (tmp_path / "seal.key").exists()
