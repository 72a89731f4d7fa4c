"""``serve``'s own health: one registry per process, scraped on the collector's and the API's
``/metrics`` alike, with every part running in it (ingest, API, alert rounds and deliveries,
sealing, the replay worker). Real servers on loopback, spans from the OpenTelemetry SDK, a
receiver that answers 500 and a rule whose query fails."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from collector.settings import CollectorSettings
from collector.store import StoreSettings
from ledgerline.server import Server
from tests.alerts.helpers import recorder
from tests.collector.sdk import hop_attributes, http_exporter, provider
from tests.metrics import Scrape, scrape

pytestmark = pytest.mark.timeout(180)
ROOT = Path(__file__).resolve().parents[2]

RULES = """
rules:
  - {name: Broken, kind: query, team: platform, interval: 1s, query: "SELECT 1 AS value FROM no_such_table"}
  - {name: Firing, kind: query, team: platform, interval: 1s, query: "SELECT 'erp' AS system, 1 AS value"}
"""
FAMILIES = {
    "ledgerline_spans_received",  # the collector
    "ledgerline_api_requests",
    "ledgerline_api_request_duration_seconds",
    "ledgerline_alert_round_duration_seconds",
    "ledgerline_alert_rule_errors",
    "ledgerline_alert_notifications",
    "ledgerline_seal_lag_seconds",
    "ledgerline_seal_duration_seconds",
    "ledgerline_replay_due",
    "ledgerline_replay_last_run_timestamp_seconds",
    "process_resident_memory_bytes",
}


def _until(check: Callable[[], bool], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "the metrics did not move"
        time.sleep(0.2)


def test_both_metrics_endpoints_show_every_part_of_the_process(
    store_settings: StoreSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    with recorder() as dead:
        dead.status = 500
        receivers = f'{{receivers: [{{name: dead, type: webhook, url: "{dead.url}/hook"}}], '
        receivers += "route: {receiver: dead, group_wait: 0s}}"
        for name, value in {
            "LEDGERLINE_DATA_DIR": str(tmp_path),
            "LEDGERLINE_API_AUTH": "off",
            "LEDGERLINE_ALERT_RULES": str(rules),
            "LEDGERLINE_ALERT_RECEIVERS": receivers,
            "LEDGERLINE_ALERT_TICK_S": "0.2",
            "LEDGERLINE_ALERT_DELIVERY_ATTEMPTS": "2",
            "LEDGERLINE_ALERT_DELIVERY_BACKOFF_S": "0.05",
            "LEDGERLINE_SEAL_INTERVAL_S": "0.3",
            "LEDGERLINE_REPLAY_POLL_S": "0.2",
        }.items():
            monkeypatch.setenv(name, value)
        settings = CollectorSettings(
            **{**store_settings.model_dump(), "data_dir": tmp_path, "http_port": 0, "grpc_port": 0}
        )
        server = Server(settings, api_port=0)
        server.start()
        try:
            urls = server.urls()
            api = urls["api"].removesuffix("/docs")
            with provider(http_exporter(urls["otlp_http"]), service="billing") as tp:
                attrs = hop_attributes("invoice", "INV-SM-1", "invoice.issued", "C-SELF-1")
                with tp.get_tracer("t").start_as_current_span("issue", attributes=attrs):
                    pass
            assert httpx.get(f"{api}/api/v1/transactions/C-SELF-1", timeout=30).status_code == 200
            assert httpx.get(f"{api}/api/v1/transactions/C-SELF-404", timeout=30).status_code == 404

            def moved() -> bool:
                now = scrape(urls["metrics"])
                return (
                    now.get("ledgerline_seals_total") >= 1
                    and now.get("ledgerline_alert_rule_errors_total", rule="Broken") >= 1
                    and now.get("ledgerline_alert_notifications_total", receiver="dead", outcome="failed") >= 1
                    and now.get("ledgerline_replay_rounds_total", outcome="ok") >= 1
                )

            _until(moved)
            collector = scrape(urls["metrics"])
            on_api = scrape(f"{api}/metrics")
        finally:
            server.stop()
    assert urls["metrics"].endswith("/metrics") and not urls["metrics"].startswith(api)  # the collector port
    for scraped in (collector, on_api):
        assert scraped.families >= FAMILIES, FAMILIES - scraped.families
        _check(scraped)
    # Every metric docs/alerts.md names (its table and its Prometheus rules) is one serve exposes.
    section = (ROOT / "docs" / "alerts.md").read_text().split("## Alerting on ledgerline itself", 1)[1]
    named = {n for n in re.findall(r"\b(?:ledgerline|process)_[a-z_]+", section) if not n.endswith("_")}
    exposed = collector.families | {f"{f}_total" for f in collector.families} | {n for n, _ in collector.samples}
    assert len(named) > 30 and sorted(named - exposed) == []


def _check(scraped: Scrape) -> None:
    assert scraped.get("ledgerline_spans_accepted_total", transport="http") == 1
    route = "/api/v1/transactions/{correlation_id}"
    assert scraped.get("ledgerline_api_requests_total", method="GET", route=route, status_class="2xx") == 1
    assert scraped.get("ledgerline_api_requests_total", method="GET", route=route, status_class="4xx") == 1
    assert scraped.get("ledgerline_alert_rule_errors_total", rule="Firing") == 0
    assert scraped.get("ledgerline_alert_delivery_retries_total", receiver="dead") >= 1
    assert scraped.get("ledgerline_alert_evaluator_leading") == 1
    assert scraped.get("ledgerline_alert_last_success_timestamp_seconds") > 0
    assert scraped.get("ledgerline_sealed_hops_total") == 1
    lag = scraped.get("ledgerline_seal_lag_seconds")
    assert not math.isnan(lag) and 0 <= lag < 3600
    assert scraped.get("ledgerline_sealer_leading") == 1
    assert scraped.get("ledgerline_replay_worker_leading") == 1
    assert scraped.get("ledgerline_replay_due") == 0
    assert "C-SELF" not in scraped.text and "INV-SM" not in scraped.text  # no identifier in any label
