"""The simulated owning systems' replay endpoint (``ledgerline simulate --replay-port``).

The ERP adapter (``ledger.posted``) and the billing adapter (``invoice.issued``) accept
ledgerline's replay requests and re-post: they emit the retried hop, outcome ok, in the
replay's correlation ID (from the ``baggage`` header), as a child of and linked to the
replay's ``traceparent``. A repeated ``Idempotency-Key`` is answered without re-posting.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from ledgerline.instrument import extract_headers, hop, link_from_headers
from ledgerline.simulator.config import SimConfig
from ledgerline.simulator.emit import ExporterFactory, otlp_exporter

ADAPTERS = {"ledger.posted": "erp", "invoice.issued": "billing"}
_TRANSIENT = "erp_unavailable, timeout, rate_limited, connection_error, service_unavailable"


def demo_targets(url: str) -> str:
    """Replay targets for ``ledgerline demo``: both adapters at ``url``. The simulator's dead
    letters are business errors (unmatched account, tax error) an operator fixes at the source
    and then replays, so those are replayable here too."""
    limits = "{EUR: 5000, USD: 5500, GBP: 4500, SEK: 57000}"
    return (
        "targets:\n"
        f"  - {{system: erp, url: '{url}', categories: [{_TRANSIENT}, unmatched_account],\n"
        f"     max_per_minute: 60, approval_over: {limits}}}\n"
        f"  - {{system: billing, url: '{url}', categories: [{_TRANSIENT}, tax_error],\n"
        f"     max_per_minute: 60, approval_over: {limits}}}\n"
    )


_MAX_BODY = 64 * 1024


def listen(port: int = 0, host: str = "127.0.0.1") -> socket.socket:
    """A socket listening on ``host:port`` (0: a free port) for a :class:`ReplayResponder`."""
    return socket.create_server((host, port), backlog=64)


class ReplayResponder:
    """An HTTP server on ``host:port`` re-posting replayed hops through its own providers."""

    def __init__(
        self,
        config: SimConfig,
        port: int,
        host: str = "127.0.0.1",
        exporter_factory: ExporterFactory = otlp_exporter,
        sock: socket.socket | None = None,
    ) -> None:
        """``sock``: a socket :func:`listen` bound earlier (its port then is the one to use;
        ``port`` and ``host`` are ignored), so the URL can be known before the collector runs."""
        self.providers: dict[str, TracerProvider] = {}
        for system in set(ADAPTERS.values()):
            resource = Resource.create({"service.name": system, "service.namespace": "ledgerline-sim"})
            provider = TracerProvider(resource=resource)
            # Synchronous export: the hop is with the collector before the replay is answered.
            provider.add_span_processor(SimpleSpanProcessor(exporter_factory(config, system)))
            self.providers[system] = provider
        self.seen: dict[str, int] = {}  # idempotency key -> times asked
        self.lock = threading.Lock()
        if sock is None:
            self.server = ThreadingHTTPServer((host, port), self._handler())
        else:  # take over the listening socket instead of binding a second one
            self.server = ThreadingHTTPServer(sock.getsockname()[:2], self._handler(), bind_and_activate=False)
            self.server.socket.close()
            self.server.socket = sock
            self.server.server_address = sock.getsockname()[:2]
            host = str(self.server.server_address[0])
        self.port = int(self.server.server_address[1])
        self.url = f"http://{host}:{self.port}/replay"
        self._thread = threading.Thread(target=self.server.serve_forever, name="replay-responder", daemon=True)

    def start(self) -> ReplayResponder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        for provider in self.providers.values():
            provider.shutdown()

    def repost(self, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Re-post one replayed hop; (HTTP status, answer)."""
        system = ADAPTERS.get(str(body.get("step")))
        key = str(headers.get("idempotency-key") or body.get("idempotency_key") or "")
        if system is None or not key or not body.get("entity_id") or not body.get("entity_type"):
            return 422, {"detail": f"cannot replay step {body.get('step')!r}; known: {sorted(ADAPTERS)}"}
        with self.lock:
            self.seen[key] = self.seen.get(key, 0) + 1
            if self.seen[key] > 1:
                return 200, {"status": "duplicate", "idempotency_key": key}
        ctx = extract_headers(headers)
        link = link_from_headers(headers)
        now = time.time_ns()
        with hop(
            str(body["entity_type"]),
            str(body["entity_id"]),
            str(body["step"]),
            amount=body.get("amount"),
            currency=body.get("currency"),
            flow=body.get("flow") or None,
            idempotency_key=key,
            links=[link],
            context=ctx,
            tracer=self.providers[system].get_tracer(__name__),
            kind=SpanKind.CONSUMER,
            start_time=now,
            end_time=now + 50_000_000,
            attributes={"replay.id": str(body.get("replay_id", "")), "replay.attempt": int(body.get("attempt", 1))},
        ):
            pass
        return 202, {"status": "reposted", "idempotency_key": key}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        responder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    if length > _MAX_BODY:
                        raise ValueError("body too large")
                    body = json.loads(self.rfile.read(length) or b"{}")
                    if not isinstance(body, dict):
                        raise ValueError("not a JSON object")
                    status, answer = responder.repost(body, {k.lower(): v for k, v in self.headers.items()})
                except ValueError as exc:
                    status, answer = 400, {"detail": str(exc)}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
