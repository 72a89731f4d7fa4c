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

from alerts.api import router as alerts_router
from alerts.routing import load_receivers
from alerts.service import AlertService
from alerts.settings import AlertSettings
from collector.service import UvicornThread
from collector.settings import CollectorSettings, StoreSettings
from collector.store import Store, open_store
from dashboard.state import link_to
from ledgerline.config import ServeConfig, load_alert_rules
from ledgerline.schema import migrate_all
from ledgerline.server import compose_app
from ledgerline.simulator.causes import Cause
from ledgerline.simulator.config import SimConfig
from ledgerline.simulator.replay import ReplayResponder
from ledgerline.simulator.runner import Summary, run_simulation
from lineage.api.app import create_app
from lineage.auth.settings import AuthSettings
from lineage.close.config import load_close
from lineage.core.flows import load_flows
from lineage.evidence.settings import EvidenceSettings
from lineage.replay.service import load as load_replay_targets
from lineage.replay.settings import ReplaySettings
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
def running_stack(
    chdb_path: Path, count: int = 200, seed: int = 7, alerts: bool = False, replay: bool = False
) -> Iterator[Stack]:
    """Collector + lineage API on loopback over a fresh database filled by the simulator; with
    ``alerts``, the alert routes too, after the default rules were evaluated (20 minutes apart,
    so rules with a ``for`` fire). With ``replay``, the app ``serve`` runs (``compose_app``:
    alerts, replay, evidence routes) and a started replay worker whose ERP and billing targets
    are the simulator's :class:`ReplayResponder` on loopback, which re-posts the retried hop
    through the collector; every replay of more than 10 (any currency) needs approval."""
    database = f"dash_{os.getpid()}_{next(_SEQ)}"
    store = open_store(StoreSettings(clickhouse_url=f"chdb://{chdb_path}", clickhouse_database=database))
    migrate_all(store)
    collector = start_collector(store)
    api = responder = worker = None
    try:
        endpoint = f"http://127.0.0.1:{collector.http_port}/v1/traces"
        config = SimConfig(
            seed=seed, backfill_s=86400, backfill_count=count, endpoint=endpoint, now_ns=time.time_ns(), live=False
        )
        summary = run_simulation(config, out=None)
        settings = LineageSettings(clickhouse_url=store.dsn, clickhouse_database=store.database)
        if replay:  # as ``serve`` composes it, replays answered by the simulator's adapters
            responder = ReplayResponder(SimConfig(endpoint=endpoint), port=0).start()
            app = compose_app(store, AuthSettings(), _alert_service(store), _replay_config(settings, responder.url))
            worker = app.state.replay_worker
        else:
            if alerts:
                app = create_app(
                    settings, store, extra_routers=(alerts_router,), state={"alerts": _alert_service(store)}
                )
            else:
                app = create_app(settings, store)
        api = UvicornThread(app, "127.0.0.1", 0)
        api.start()
        if worker is not None:
            worker.start()
        token = issue(store, "operator", Stack.subject)
        yield Stack(f"http://127.0.0.1:{api.port}", store, summary.transactions, token)
    finally:
        if worker is not None:
            worker.stop()
        if api is not None:
            api.stop(10)
        if responder is not None:
            responder.stop()
        collector.stop()
        store.command("DROP DATABASE IF EXISTS {db:Identifier}", {"db": database})


MIX = {"order_to_cash": 0.4, "payment_sync": 0.3, "disputes": 0.2}
FAULTS = {"billing_lag": 0.25, "posting_reversed": 0.15, "crm_outage": 0.3}


@dataclass
class FlowsStack:
    """A stack filled by a mixed simulation (every flow, with its faults)."""

    api_url: str
    token: str  # a viewer's API token
    summary: Summary
    store: Store
    otlp_http: str  # the collector's OTLP/HTTP traces URL, to send more


@contextmanager
def running_flows_stack(
    chdb_path: Path, name: str, count: int = 150, seed: int = 5, causes: tuple[Cause, ...] = (), **settings: str | int
) -> Iterator[FlowsStack]:
    """Collector + lineage API on loopback over a fresh database filled with ``count``
    transactions of every flow in the last 24 h (the Flows and Reconciliation pages), with
    ``causes`` planted; ``settings``: more LineageSettings of the API."""
    database = f"dash_{name}_{os.getpid()}"
    store = open_store(StoreSettings(clickhouse_url=f"chdb://{chdb_path}", clickhouse_database=database))
    migrate_all(store)
    collector = start_collector(store)
    api = None
    try:
        endpoint = f"http://127.0.0.1:{collector.http_port}/v1/traces"
        config = SimConfig(
            seed=seed,
            backfill_s=86400,
            backfill_count=count,
            endpoint=endpoint,
            now_ns=time.time_ns(),
            live=False,
            flow_mix=MIX,
            flow_fault_rates=FAULTS,
            causes=causes,
        )
        summary = run_simulation(config, out=None)
        lineage = LineageSettings(clickhouse_url=store.dsn, clickhouse_database=store.database, **settings)  # type: ignore[arg-type]
        api = UvicornThread(create_app(lineage, store), "127.0.0.1", 0)
        api.start()
        token = issue(store, "viewer", f"{name}@test.example")
        yield FlowsStack(f"http://127.0.0.1:{api.port}", token, summary, store, endpoint)
    finally:
        if api is not None:
            api.stop(10)
        collector.stop()
        store.command("DROP DATABASE IF EXISTS {db:Identifier}", {"db": database})


def _alert_service(store: Store) -> AlertService:
    settings = AlertSettings(clickhouse_url=store.dsn, clickhouse_database=store.database)
    service = AlertService(settings, store, link=link_to)
    now = time.time_ns() // 1_000_000
    service.run_once(now - 20 * 60_000, force=True)
    service.run_once(now, force=True)
    return service


def replay_targets(url: str) -> str:
    """ERP and billing at ``url``: the simulator's dead letters are replayable, above 10 needs approval."""
    limits = "{EUR: 10, USD: 10, GBP: 10, SEK: 10}"
    return (
        "targets:\n"
        f"  - {{system: erp, url: '{url}', categories: [unmatched_account], approval_over: {limits}}}\n"
        f"  - {{system: billing, url: '{url}', categories: [tax_error], approval_over: {limits}}}\n"
    )


def _replay_config(lineage: LineageSettings, url: str) -> ServeConfig:
    """``serve``'s validated config with the replay targets at ``url`` and a quick worker."""
    flows = load_flows(None)
    alerts = AlertSettings()
    replay = ReplaySettings(
        replay_targets=replay_targets(url), replay_poll_s=0.2, replay_backoff_s=0.2, replay_timeout_s=5
    )
    return ServeConfig(
        collector=CollectorSettings(),
        lineage=lineage,
        alerts=alerts,
        flows=flows,
        rules=load_alert_rules(alerts, flows),
        receivers=load_receivers(None),
        auth=AuthSettings(),
        replay=replay,
        targets=load_replay_targets(replay, flows.transient),
        evidence=EvidenceSettings(),
        close=load_close(flows),
    )


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
