"""Test helpers: spans written to otel_traces (hops derive through the real materialized
view), a recording HTTP receiver on loopback, and an alert service on a fake clock."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from alerts.service import AlertService
from alerts.settings import AlertSettings
from collector.store import Store
from collector.store.lease import Lease

MIN = 60_000
HOUR = 60 * MIN
T0 = 1_780_000_000_000  # a fixed "now" base in epoch ms
_IDS = itertools.count(1)


def hop(
    store: Store,
    cid: str,
    entity: str,
    step: str,
    end_ms: int,
    *,
    system: str = "sap",
    outcome: str = "ok",
    parent: tuple[str, str] | None = None,
    dur_ms: int = 1000,
) -> None:
    """One business hop span ending at ``end_ms``."""
    etype, eid = entity.split(":")
    attrs = {
        "correlation.id": cid,
        "biz.entity.type": etype,
        "biz.entity.id": eid,
        "biz.step": step,
        "biz.system": system,
        "biz.outcome": outcome,
        "biz.region": "emea",
        "biz.flow": "support_credit",
    }
    if parent:
        attrs["biz.parent.type"], attrs["biz.parent.id"] = parent
    n = next(_IDS)
    start = datetime.fromtimestamp((end_ms - dur_ms) / 1000, tz=UTC)
    store.insert(
        "otel_traces",
        [
            [
                start,
                f"{n:032x}",
                f"{n:016x}",
                system,
                step,
                attrs,
                dur_ms * 1_000_000,
                "Error" if outcome != "ok" else "Ok",
            ]
        ],
        ["Timestamp", "TraceId", "SpanId", "ServiceName", "SpanName", "SpanAttributes", "Duration", "StatusCode"],
    )


def posting(store: Store, n: int, issued_ms: int, latency_ms: int, system: str = "sap") -> None:
    """An invoice issued at ``issued_ms`` and posted ``latency_ms`` later."""
    hop(store, f"C{n}", f"invoice:INV-{n}", "invoice.issued", issued_ms, system="billing")
    hop(
        store,
        f"C{n}",
        f"ledger:LED-{n}",
        "ledger.posted",
        issued_ms + latency_ms,
        system=system,
        parent=("invoice", f"INV-{n}"),
    )


class Recorder:
    """A loopback HTTP server recording JSON bodies; ``status`` is what it answers."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, Any]] = []
        self.status = 200
        self.script: list[int] = []  # statuses answered first, one per request
        self.headers: dict[str, str] = {}
        self.requests = 0
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = recorder.script.pop(0) if recorder.script else recorder.status
                recorder.requests += 1
                if status < 300:
                    recorder.bodies.append((self.path, json.loads(body)))
                self.send_response(status)
                for k, v in recorder.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def recorder() -> Iterator[Recorder]:
    """A running Recorder, shut down afterwards."""
    rec = Recorder()
    try:
        yield rec
    finally:
        rec.close()


def rules_file(tmp_path: Any, text: str) -> Any:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def service(
    store: Store, rules: Any, receivers: str = "", lease: Lease | None = None, registry: Any = None
) -> AlertService:
    """An alert service on ``store`` (migrated by its fixture) with fast retries (metrics into ``registry``)."""
    settings = AlertSettings(
        clickhouse_url=store.dsn,
        clickhouse_database=store.database,
        alert_rules=rules,
        alert_receivers=receivers or None,
        dashboard_url="http://dash.test",
        alert_delivery_attempts=2,
        alert_delivery_backoff_s=0.05,
        alert_delivery_timeout_s=2,
    )
    return AlertService(settings, store, lease=lease, registry=registry)


def webhook_receivers(url: str, extra: str = "") -> str:
    """Inline receivers config: everything to one webhook, no group wait."""
    return f"""
receivers:
  - {{name: hook, type: webhook, url: "{url}/hook"}}
{extra}
route: {{receiver: hook, group_by: [alertname, system], group_wait: 0s, group_interval: 1m, repeat_interval: 4h}}
"""
