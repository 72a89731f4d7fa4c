"""``ledgerline demo``: the whole product on the embedded store, with a simulated estate.

Starts ``serve`` (collector + lineage API), backfills a day of traffic of every flow
(support_credit, order_to_cash, payment_sync, disputes, with their faults), keeps live
traffic flowing at the history's rate (so no chart jumps at "now"), starts the dashboard when
it is installed, prints the URLs and stops everything cleanly on Ctrl-C.

Every port is a flag, else its setting, else the default (``--api-port``,
``LEDGERLINE_API_PORT``, 8000), so ``make demo`` moves with ``LEDGERLINE_*_PORT``; the printed
hints and the alerts' dashboard links use the ports in use.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from collector.settings import CollectorSettings

# The demo's traffic, history and live alike: a day of history at this rate is ~4,800
# transactions, backfilled in about 25 s on two cores (docs/simulator.md).
RATE = "200/h"
_PER = {"s": 1.0, "min": 60.0, "h": 3600.0}


def rate_per_s(text: str) -> float:
    """Transactions per second from ``2`` (per second), ``200/h``, ``30/min`` or ``2/s``."""
    number, _, unit = text.strip().partition("/")
    try:
        value = float(number) / _PER[unit.strip() or "s"]
    except (KeyError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate such as 200/h, 30/min or 2 (per second)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the rate must be positive")
    return value


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser("demo", help="serve + simulated estate (+ dashboard) on the embedded store")
    parser.add_argument("--http-port", type=int, help="OTLP/HTTP port (default $LEDGERLINE_HTTP_PORT or 4318)")
    parser.add_argument("--grpc-port", type=int, help="OTLP/gRPC port (default $LEDGERLINE_GRPC_PORT or 4317)")
    parser.add_argument("--api-port", type=int, help="lineage API port (default $LEDGERLINE_API_PORT or 8000)")
    parser.add_argument(
        "--dashboard-port", type=int, help="dashboard port (default $LEDGERLINE_DASHBOARD_PORT or 8501)"
    )
    parser.add_argument("--backfill", default="24h", help="history to emit first (24h)")
    parser.add_argument(
        "--rate",
        type=rate_per_s,
        default=rate_per_s(RATE),
        help=f"transactions per second, or e.g. 200/h, history and live traffic alike ({RATE})",
    )
    parser.add_argument("--seed", type=int, default=42, help="simulation seed (42)")
    parser.add_argument("--no-dashboard", action="store_true", help="do not start the dashboard")
    parser.add_argument(
        "--support-credit-only", action="store_true", help="simulate support_credit alone (default: every flow)"
    )
    parser.add_argument(
        "--replay-port", type=int, default=0, help="simulated adapters' replay endpoint (default: a free port)"
    )
    parser.set_defaults(func=run)


def ports(args: argparse.Namespace) -> tuple[CollectorSettings, int, int]:
    """(collector settings, API port, dashboard port): each port the flag, else its
    ``LEDGERLINE_*_PORT`` setting, else the default."""
    from dashboard.settings import DashboardSettings
    from ledgerline.config import read_settings
    from lineage.settings import LineageSettings

    given = {k: getattr(args, k) for k in ("http_port", "grpc_port") if getattr(args, k) is not None}
    collector = read_settings(CollectorSettings, **given)
    api = args.api_port if args.api_port is not None else read_settings(LineageSettings).api_port
    dashboard = args.dashboard_port
    if dashboard is None:
        dashboard = read_settings(DashboardSettings).dashboard_port
    return collector, api, dashboard


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
    from ledgerline.simulator.causes import DEMO_CAUSES
    from ledgerline.simulator.config import DEMO_FLOW_MIX, SimConfig
    from lineage.core.timeparse import parse_seconds

    backfill_s = 0.0 if stored_hops else parse_seconds(args.backfill)
    return SimConfig(
        seed=args.seed,
        rate=args.rate,
        backfill_s=backfill_s,
        backfill_count=round(args.rate * backfill_s) if backfill_s else None,  # the live rate, uncapped
        live=True,
        endpoint=endpoint,
        live_first_seq=now_ms,
        month_end=bool(backfill_s),  # a fresh store also gets the month end (docs/close.md)
        flow_mix={} if getattr(args, "support_credit_only", False) else dict(DEMO_FLOW_MIX),
        causes=DEMO_CAUSES,  # a planted cause for "Why?" to find (docs/explain.md)
    )


def run(args: argparse.Namespace) -> int:
    """Run the demo until Ctrl-C or SIGTERM."""
    from ledgerline.server import Server, print_urls
    from ledgerline.signals import StopSignals
    from ledgerline.simulator.replay import ReplayResponder, demo_targets, listen
    from lineage.auth.local import record_local
    from lineage.auth.tokens import TokenStore

    signals = StopSignals()  # a SIGTERM at any moment stops what has started, children too
    settings, api_port, dashboard_port = ports(args)
    replay_socket = listen(args.replay_port)  # bound now: the replay targets name its port
    replay_url = f"http://127.0.0.1:{replay_socket.getsockname()[1]}/replay"
    os.environ.setdefault("LEDGERLINE_REPLAY_TARGETS", demo_targets(replay_url))
    # alert notifications link to this demo's dashboard (unless LEDGERLINE_DASHBOARD_URL says otherwise)
    os.environ.setdefault("LEDGERLINE_DASHBOARD_URL", f"http://127.0.0.1:{dashboard_port}")
    running = _Running(replay_socket)
    try:
        server = Server(settings, api_port=api_port)
    except BaseException:
        running.stop()
        raise
    # The demo's own admin token (revoked again on a clean stop), so everything just works.
    tokens = TokenStore(server.store)
    record, token = tokens.create("demo@ledgerline.local", "admin", expires_in=timedelta(days=1), created_by="demo")
    record_local(server.store, "token.create", record.id, "demo", "demo", "ledgerline demo")
    server.start()
    try:
        signals.serving()  # a signal now ends the wait below; what starts meanwhile is stopped with the rest
        api_url = f"http://127.0.0.1:{server.api_port}"
        print(f"ledgerline demo: embedded store at {settings.dsn}", flush=True)
        print_urls(server)
        print(f"  token      {token}", flush=True)
        hint = f"LEDGERLINE_API_URL={api_url} LEDGERLINE_API_TOKEN={token} ledgerline trace <id>"
        print(f"             (admin; e.g. {hint})", flush=True)
        if not args.no_dashboard:
            running.dashboard = _start_dashboard(api_url, dashboard_port, token)
        _print_alerts(server)
        stored, last_ms = history(server.store)
        running.config = sim_config(args, server.urls()["otlp_http"], stored, time.time_ns() // 1_000_000)
        running.responder = ReplayResponder(running.config, 0, sock=running.socket).start()
        print(f"  replays    {running.responder.url} (simulated ERP and billing adapters)", flush=True)
        running.start_simulation()
        if running.config.month_end:
            running.story = _month_end(server, api_url, running.config, dashboard_port)
        per_h = f"{args.rate * 3600:,.0f}/h"
        if stored:
            print(
                f"the store already holds {stored} hops (the last at {_iso(last_ms)}): no backfill, so nothing "
                f"earlier is sent again; live traffic with new IDs at {per_h}; Ctrl-C to stop.",
                flush=True,
            )
        else:
            print(
                f"backfilling {args.backfill} of history ({running.config.backfill_total:,} transactions, {per_h}), "
                f"then live traffic at the same rate; Ctrl-C to stop.",
                flush=True,
            )
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

    def __init__(self, replay_socket: socket.socket) -> None:
        self.socket = replay_socket  # the replay adapters' listening socket, until the responder takes it
        self.dashboard: subprocess.Popen[bytes] | None = None
        self.config: Any = None
        self.responder: Any = None
        self.simulation: threading.Thread | None = None
        self.done: list[Any] = []
        self.halt = threading.Event()
        self.story: Any = None  # the month end's sign-off and decertification

    def start_simulation(self) -> None:
        from ledgerline.simulator.runner import run_simulation

        def simulate() -> None:
            self.done.append(run_simulation(self.config, self.halt, out=sys.stdout))

        self.simulation = threading.Thread(target=simulate, name="simulator", daemon=True)
        self.simulation.start()

    def stop(self) -> None:
        self.halt.set()
        if self.story is not None:
            self.story.stop()
        if self.simulation is not None:
            self.simulation.join(60)
        if self.done:
            print(self.done[0].format(self.config), flush=True)
        if self.responder is not None:
            self.responder.stop()
        else:
            self.socket.close()
        if self.dashboard is not None:
            from dashboard.launch import stop

            stop(self.dashboard)


def _month_end(server: Any, api_url: str, config: Any, dashboard_port: int) -> Any:
    """Print where the month end shows and start its sign-off story (simulator/monthend.py)."""
    from ledgerline.simulator import monthend

    story = monthend.CloseStory(server.store, api_url, config, sys.stdout)
    print(
        f"  close      http://127.0.0.1:{dashboard_port}/?page=close&period={story.period}: the month end "
        f"{story.period}: {monthend.BLOCKED} blocked, {monthend.READY} ready once sealed, {monthend.DECERTIFIED} "
        "signed, then decertified by a late posting (GET /api/v1/close, ledgerline close status)",
        flush=True,
    )
    return story.start()


def _print_alerts(server: Any) -> None:
    """Where alert links point, and, without a receiver, that firing alerts go nowhere."""
    from alerts.routing import EXAMPLE_RECEIVERS

    config = server.config
    print(f"  alerts     links to {config.alerts.dashboard_url}", flush=True)
    if not config.receivers.receivers:
        print(
            "             no receiver configured: firing alerts show on the dashboard's Alerts page and are sent "
            f"nowhere; to send them: LEDGERLINE_ALERT_RECEIVERS='{EXAMPLE_RECEIVERS}' make demo",
            flush=True,
        )


def _iso(ms: int) -> str:
    return f"{datetime.fromtimestamp(ms / 1000, UTC):%Y-%m-%d %H:%M:%S}Z"
