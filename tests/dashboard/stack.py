"""A real ledgerline stack for the dashboard tests: store, collector, lineage API, simulated data.

Run ``python -m tests.dashboard.stack`` to keep one up (prints the API URL) while developing.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collector.service import UvicornThread
from collector.settings import StoreSettings
from collector.store import Store, open_store
from ledgerline.schema import migrate_all
from ledgerline.simulator.config import SimConfig
from ledgerline.simulator.runner import run_simulation
from lineage.app import create_app
from lineage.settings import LineageSettings
from tests.conftest import start_collector
from tests.lineage.auth.helpers import issue

_SEQ = itertools.count()


@dataclass
class Stack:
    """Handles to the running stack."""

    api_url: str
    store: Store
    transactions: int
    token: str  # an operator's API token, for the dashboard's service credential
    subject: str = "dash-ops@test.example"


@contextmanager
def running_stack(chdb_path: Path, count: int = 200, seed: int = 7, alerts: bool = False) -> Iterator[Stack]:
    """Collector + lineage API on loopback over a fresh database filled by the simulator; with
    ``alerts``, the alert routes too, after the default rules were evaluated (20 minutes apart,
    so rules with a ``for`` fire)."""
    database = f"dash_{os.getpid()}_{next(_SEQ)}"
    store = open_store(StoreSettings(clickhouse_url=f"chdb://{chdb_path}", clickhouse_database=database))
    migrate_all(store)
    collector = start_collector(store)
    api = None
    try:
        endpoint = f"http://127.0.0.1:{collector.http_port}/v1/traces"
        config = SimConfig(
            seed=seed, backfill_s=86400, backfill_count=count, endpoint=endpoint, now_ns=time.time_ns(), live=False
        )
        summary = run_simulation(config, out=None)
        settings = LineageSettings(clickhouse_url=store.dsn, clickhouse_database=store.database)
        app = create_app(settings, store)
        if alerts:
            _mount_alerts(app, store)
        api = UvicornThread(app, "127.0.0.1", 0)
        api.start()
        token = issue(store, "operator", Stack.subject)
        yield Stack(f"http://127.0.0.1:{api.port}", store, summary.transactions, token)
    finally:
        if api is not None:
            api.stop(10)
        collector.stop()
        store.command("DROP DATABASE IF EXISTS {db:Identifier}", {"db": database})


def _mount_alerts(app: Any, store: Store) -> None:
    from alerts.api import create_router
    from alerts.service import AlertService
    from alerts.settings import AlertSettings
    from dashboard.state import link_to

    settings = AlertSettings(clickhouse_url=store.dsn, clickhouse_database=store.database)
    service = AlertService(settings, store, link=link_to)
    now = time.time_ns() // 1_000_000
    service.run_once(now - 20 * 60_000, force=True)
    service.run_once(now, force=True)
    app.include_router(create_router(service))


def main() -> None:  # pragma: no cover - developer helper
    """Keep a stack up until Ctrl-C."""
    with tempfile.TemporaryDirectory() as tmp, running_stack(Path(tmp)) as stack:
        print(f"lineage API at {stack.api_url} ({stack.transactions} transactions)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":  # pragma: no cover
    main()
