"""``ledgerline demo``: the whole product on the embedded store, with a simulated estate.

Starts ``serve`` (collector + lineage API), backfills a day of traffic of every flow
(support_credit, order_to_cash, payment_sync, disputes, with their faults), keeps live
traffic flowing, starts the dashboard when it is installed, prints
the URLs and stops everything cleanly on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from collector.settings import CollectorSettings


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser("demo", help="serve + simulated estate (+ dashboard) on the embedded store")
    parser.add_argument("--http-port", type=int, default=4318, help="OTLP/HTTP port (4318)")
    parser.add_argument("--grpc-port", type=int, default=4317, help="OTLP/gRPC port (4317)")
    parser.add_argument("--api-port", type=int, default=8000, help="lineage API port (8000)")
    parser.add_argument("--dashboard-port", type=int, default=8501, help="dashboard port (8501)")
    parser.add_argument("--backfill", default="24h", help="history to emit first (24h)")
    parser.add_argument("--rate", type=float, default=2.0, help="live transactions per second (2)")
    parser.add_argument("--seed", type=int, default=42, help="simulation seed (42)")
    parser.add_argument("--no-dashboard", action="store_true", help="do not start the dashboard")
    parser.add_argument(
        "--support-credit-only", action="store_true", help="simulate support_credit alone (default: every flow)"
    )
    parser.add_argument("--replay-port", type=int, default=8601, help="simulated adapters' replay endpoint (8601)")
    parser.set_defaults(func=run)


def _start_dashboard(api_url: str, port: int, token: str) -> subprocess.Popen[bytes] | None:
    try:
        from dashboard.api import TOKEN_ENV
        from dashboard.launch import command
    except ImportError:
        print("  dashboard  (not installed in this build)", flush=True)
        return None
    env = {**os.environ, TOKEN_ENV: token}  # the dashboard's service credential
    print(f"  dashboard  http://127.0.0.1:{port}", flush=True)
    return subprocess.Popen(command(api_url, "127.0.0.1", port), stdout=subprocess.DEVNULL, env=env)


HISTORY = "SELECT count() AS hops, toUnixTimestamp64Milli(max(EndTime)) AS last_ms FROM hops"
COMMITTED = "SELECT count() AS hops, uniqExact(CorrelationId) AS transactions FROM hops"


def history(store: Any) -> tuple[int, int]:
    """(hops, epoch ms of the last) already in the store; (0, 0) for a fresh one."""
    row = store.query_dicts(HISTORY, {})[0]
    return int(row["hops"]), int(row["last_ms"]) if row["hops"] else 0


def sim_config(args: argparse.Namespace, endpoint: str, stored_hops: int, now_ms: int) -> Any:
    """The demo's simulation: a backfill only into an empty store (a restart never re-sends, so
    never rewrites, earlier transactions), and live IDs numbered from ``now_ms`` so they are
    new on every start."""
    from ledgerline.simulator.config import DEMO_FLOW_MIX, SimConfig
    from lineage.core.timeparse import parse_seconds

    return SimConfig(
        seed=args.seed,
        rate=args.rate,
        backfill_s=0.0 if stored_hops else parse_seconds(args.backfill),
        live=True,
        endpoint=endpoint,
        live_first_seq=now_ms,
        flow_mix={} if getattr(args, "support_credit_only", False) else dict(DEMO_FLOW_MIX),
    )


def run(args: argparse.Namespace) -> int:
    """Run the demo until Ctrl-C or SIGTERM."""
    from ledgerline.config import read_settings
    from ledgerline.server import Server, print_urls
    from ledgerline.signals import StopSignals
    from ledgerline.simulator.replay import ReplayResponder, demo_targets
    from lineage.auth.local import record_local
    from lineage.auth.tokens import TokenStore

    signals = StopSignals()  # a SIGTERM at any moment stops what has started, children too
    os.environ.setdefault("LEDGERLINE_REPLAY_TARGETS", demo_targets(f"http://127.0.0.1:{args.replay_port}/replay"))
    settings = read_settings(CollectorSettings, http_port=args.http_port, grpc_port=args.grpc_port)
    server = Server(settings, api_port=args.api_port)
    # The demo's own admin token (revoked again on a clean stop), so everything just works.
    tokens = TokenStore(server.store)
    record, token = tokens.create("demo@ledgerline.local", "admin", expires_in=timedelta(days=1), created_by="demo")
    record_local(server.store, "token.create", record.id, "demo", "demo", "ledgerline demo")
    server.start()
    running = _Running()
    try:
        signals.serving()  # a signal now ends the wait below; what starts meanwhile is stopped with the rest
        print(f"ledgerline demo: embedded store at {settings.dsn}", flush=True)
        print_urls(server)
        print(f"  token      {token}", flush=True)
        print(f"             (admin; e.g. LEDGERLINE_API_TOKEN={token} ledgerline trace <id>)", flush=True)
        if not args.no_dashboard:
            running.dashboard = _start_dashboard(f"http://127.0.0.1:{server.api_port}", args.dashboard_port, token)
        stored, last_ms = history(server.store)
        running.config = sim_config(args, server.urls()["otlp_http"], stored, time.time_ns() // 1_000_000)
        running.responder = ReplayResponder(running.config, args.replay_port).start()
        print(f"  replays    {running.responder.url} (simulated ERP and billing adapters)", flush=True)
        running.start_simulation()
        if stored:
            print(
                f"the store already holds {stored} hops (the last at {_iso(last_ms)}): no backfill, so nothing "
                "earlier is sent again; live traffic with new IDs; Ctrl-C to stop.",
                flush=True,
            )
        else:
            print(f"backfilling {args.backfill} of history, then live traffic; Ctrl-C to stop.", flush=True)
        signals.wait()
    finally:
        print("stopping: simulator, dashboard, then the server (flushing accepted spans) ...", flush=True)
        running.stop()
        tokens.revoke(record.id, by="demo")
        record_local(server.store, "token.revoke", record.id, "demo", "demo", "ledgerline demo")
        # the simulator has stopped and every span the collector acknowledged is committed
        committed = server.store.query_dicts(COMMITTED, {})[0]
        server.stop()
        print(
            f"committed: {committed['hops']} hops of {committed['transactions']} correlation IDs in the store",
            flush=True,
        )
        print("stopped.", flush=True)
    return 0


class _Running:
    """What the demo starts beside the server, stopped in reverse (whatever of it has started)."""

    def __init__(self) -> None:
        self.dashboard: subprocess.Popen[bytes] | None = None
        self.config: Any = None
        self.responder: Any = None
        self.simulation: threading.Thread | None = None
        self.done: list[Any] = []
        self.halt = threading.Event()

    def start_simulation(self) -> None:
        from ledgerline.simulator.runner import run_simulation

        def simulate() -> None:
            self.done.append(run_simulation(self.config, self.halt, out=sys.stdout))

        self.simulation = threading.Thread(target=simulate, name="simulator", daemon=True)
        self.simulation.start()

    def stop(self) -> None:
        self.halt.set()
        if self.simulation is not None:
            self.simulation.join(60)
        if self.done:
            print(self.done[0].format(self.config), flush=True)
        if self.responder is not None:
            self.responder.stop()
        if self.dashboard is not None:
            from dashboard.launch import stop

            stop(self.dashboard)


def _iso(ms: int) -> str:
    return f"{datetime.fromtimestamp(ms / 1000, UTC):%Y-%m-%d %H:%M:%S}Z"
