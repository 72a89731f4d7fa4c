"""Run the collector: store, batch writer, OTLP/HTTP and OTLP/gRPC servers in one process.

In embedded mode this process owns the chdb store; everything else reaches the data
through the HTTP APIs. :class:`Collector` starts and stops the parts in the order that
loses nothing: on stop the servers drain their in-flight requests while the writer still
commits, then the writer flushes what is queued.
"""

from __future__ import annotations

import gc
import logging
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import uvicorn
from prometheus_client import CollectorRegistry

from collector import heap, memory
from collector.http import create_collector_app
from collector.ingest import Ingestor
from collector.limits import guarded_h11
from collector.metrics import CollectorMetrics
from collector.settings import CollectorSettings
from collector.sinks import make_sink
from collector.store import Store
from collector.store.errors import ConfigError
from collector.writer import BatchWriter

if TYPE_CHECKING:
    from collector.grpc_server import GrpcServer, TraceService

log = logging.getLogger(__name__)

SWITCH_INTERVAL_S = 0.001


class UvicornThread:
    """An ASGI app served by uvicorn on a background thread, on a socket bound up front."""

    def __init__(self, app: Any, host: str, port: int, *, header_timeout_s: float = 10.0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.socket.bind((host, port))
        except OSError as exc:
            self.socket.close()
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
        self.port: int = self.socket.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            # No limit_concurrency: uvicorn counts open connections in it, so idle sockets
            # would turn everyone away. Exports have their own in-progress limit, and a
            # connection that sends no request head in time is closed.
            http=guarded_h11(header_timeout_s),
            timeout_graceful_shutdown=30,
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"uvicorn-{self.port}", daemon=True)

    def _run(self) -> None:
        self.server.run(sockets=[self.socket])

    def start(self, timeout: float = 15.0) -> None:
        """Start serving and wait until the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"the HTTP server on port {self.port} did not start")
            time.sleep(0.01)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop accepting, let in-flight requests finish, then return."""
        self.server.should_exit = True
        if self._thread.ident is not None:  # started (a stop during start-up may come first)
            self._thread.join(timeout)
        self.socket.close()


class Collector:
    """The OTLP receiver with its writer, over a store opened (and migrated) by the caller."""

    def __init__(self, settings: CollectorSettings, store: Store, registry: CollectorRegistry | None = None) -> None:
        """``registry``: where the metrics go (``serve``'s process-wide one), else a registry of its own."""
        settings.check_bind()
        memory.check(settings)  # settings the memory limit cannot hold are refused before anything listens
        self.settings = settings
        self.store = store
        self.metrics = CollectorMetrics(registry)
        self.writer = BatchWriter(
            make_sink(self.store, settings.ingest_decoder),
            max_queue_spans=settings.max_queue_spans,
            max_queue_bytes=settings.max_queue_bytes,
            max_batch_spans=settings.max_batch_spans,
            max_batch_bytes=settings.max_batch_bytes,
            linger_s=settings.batch_linger_ms / 1000,
            on_commit=self.metrics.on_commit,
        )
        self.metrics.watch_queue(lambda: self.writer.queued_spans)
        self.ingestor = Ingestor(settings, self.writer, self.metrics)
        self.app = create_collector_app(self.ingestor, self.store)
        self._http: UvicornThread | None = None
        self._grpc: GrpcServer | None = None
        self.grpc_service: TraceService | None = None
        self.http_port = settings.http_port
        self.grpc_port = settings.grpc_port

    def start(self) -> None:
        """Bind and start both servers (port 0 picks a free port)."""
        from collector.grpc_server import GrpcServer

        # The event loop gets the GIL back from the decode thread within 1 ms (not 5), and a
        # full collection no longer walks everything loaded so far: health answers stay fast.
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        if not gc.get_freeze_count():  # once per process (tests start many collectors)
            heap.settle()

        self._http = UvicornThread(
            self.app,
            self.settings.host,
            self.settings.http_port,
            header_timeout_s=self.settings.header_timeout_s,
        )
        self.http_port = self._http.port
        self._grpc = GrpcServer(self.ingestor, self.settings.host, self.settings.grpc_port)
        self._grpc.start()
        self.grpc_port, self.grpc_service = self._grpc.port, self._grpc.service
        self._http.start()
        log.info(
            "collector listening: OTLP/HTTP %s:%d, OTLP/gRPC %s:%d",
            self.settings.host,
            self.http_port,
            self.settings.host,
            self.grpc_port,
        )

    def stop(self) -> None:
        """Drain requests and flush the queue; the store stays open (its owner closes it)."""
        grace = self.settings.shutdown_timeout_s
        if self._grpc is not None:
            self._grpc.stop(grace)
        if self._http is not None:
            self._http.stop(grace)
        self.ingestor.close()
        self.writer.close(grace)
