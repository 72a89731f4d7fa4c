"""``ledgerline serve``: collector, lineage API and alert evaluator in one process that owns the store."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from collector.service import Collector, UvicornThread
from collector.settings import CollectorSettings
from collector.store import Store, open_store
from ledgerline.config import load_serve_config
from ledgerline.schema import migrate_all

log = logging.getLogger(__name__)


def open_and_migrate(settings: CollectorSettings) -> Store:
    """Open the store and apply every component's migrations."""
    store = open_store(settings)
    applied = migrate_all(store)
    if applied:
        log.info("applied schema migrations %s", applied)
    return store


class Server:
    """The parts ``ledgerline serve`` runs, started and stopped in a safe order."""

    def __init__(self, settings: CollectorSettings, api_port: int = 8000) -> None:
        # Every setting and file is checked before the store is opened or a port is bound.
        self.config = load_serve_config(settings)
        self.settings = settings
        self.store = open_and_migrate(settings)
        self.collector = Collector(settings, store=self.store)
        self.api: UvicornThread | None = None
        self.api_port = api_port
        self.alerts: Any = None

    def start(self) -> None:
        """Start the collector, the alert evaluator, then the lineage API (with the alerts routes)."""
        from alerts.api import create_router
        from alerts.service import AlertService
        from dashboard.state import link_to
        from lineage.app import create_app

        cfg = self.config
        try:
            self.collector.start()
            self.alerts = AlertService(cfg.alerts, self.store, cfg.rules, cfg.receivers, link=link_to)
            self.alerts.start()
            app = create_app(cfg.lineage, self.store, cfg.flows)
            app.include_router(create_router(self.alerts))
            self.api = UvicornThread(app, self.settings.host, self.api_port)
            self.api.start()
            self.api_port = self.api.port
        except BaseException:
            self.stop()  # nothing left running, the store closed cleanly
            raise

    def stop(self) -> None:
        """Stop serving; everything acknowledged is committed before this returns."""
        if self.alerts is not None:
            self.alerts.stop()
        if self.api is not None:
            self.api.stop()
        self.collector.stop()
        self.store.close()
        self.alerts = self.api = None

    def urls(self) -> dict[str, str]:
        """Where each part listens."""
        host = self.settings.host
        urls = {
            "otlp_http": f"http://{host}:{self.collector.http_port}/v1/traces",
            "otlp_grpc": f"{host}:{self.collector.grpc_port}",
            "metrics": f"http://{host}:{self.collector.http_port}/metrics",
        }
        if self.api is not None:
            urls["api"] = f"http://{host}:{self.api_port}/docs"
        return urls


def print_urls(server: Server) -> None:
    """Tell the user where each part listens."""
    for name, url in server.urls().items():
        print(f"  {name:10s} {url}", flush=True)


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
