"""The ``ledgerline`` command line."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from collector.config import settings_error
from collector.settings import CollectorSettings
from collector.store.errors import LedgerlineError


def _collector_settings(args: argparse.Namespace) -> CollectorSettings:
    from ledgerline.config import read_settings

    overrides: dict[str, object] = {}
    for name in ("host", "http_port", "grpc_port"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    if getattr(args, "insecure", False):
        overrides["insecure"] = True
    return read_settings(CollectorSettings, **overrides)


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply schema migrations (``ON CLUSTER`` with ``--cluster``) and print what was applied."""
    from collector.store import open_store
    from ledgerline.config import read_settings
    from ledgerline.schema import prepare_store, render_all
    from lineage.evidence.settings import EvidenceSettings

    overrides = {"clickhouse_cluster": args.cluster} if args.cluster else {}
    settings = read_settings(CollectorSettings, **overrides)
    cluster = settings.clickhouse_cluster
    if args.print_sql:  # nothing opened, nothing applied
        print(render_all(cluster, settings.clickhouse_database), end="")
        return 0
    store = open_store(settings)
    try:
        applied = prepare_store(store, read_settings(EvidenceSettings, **overrides))
    finally:
        store.close()
    where = f"cluster {cluster}, " if cluster else ""
    print(
        f"schema up to date at {settings.dsn} ({where}database {settings.clickhouse_database}); "
        f"applied: {applied or 'nothing'}"
    )
    return 0


def _components(value: str) -> frozenset[str]:
    from ledgerline.server import COMPONENTS

    chosen = frozenset(c.strip() for c in value.split(",") if c.strip())
    unknown = sorted(chosen - COMPONENTS)
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown component(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(sorted(COMPONENTS))}"
        )
    return chosen


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the collector and the lineage API until interrupted."""
    from ledgerline.config import read_settings
    from ledgerline.server import Server, print_urls
    from ledgerline.signals import StopSignals
    from lineage.settings import LineageSettings

    signals = StopSignals()  # from here on a SIGTERM stops cleanly, also during start-up
    api_port = args.api_port if args.api_port is not None else read_settings(LineageSettings).api_port
    server = Server(_collector_settings(args), api_port=api_port, components=args.components)
    server.start()  # interrupted, it stops what it started before raising
    try:
        signals.serving()
        print_urls(server)
        print("ledgerline is serving; Ctrl-C to stop.", flush=True)
        signals.wait()
    finally:
        print("stopping: flushing accepted spans ...", flush=True)
        server.stop()
        print("stopped.", flush=True)
    return 0


def _add_serve_options(parser: argparse.ArgumentParser) -> None:
    from ledgerline.server import COMPONENTS

    parser.add_argument(
        "--components",
        type=_components,
        default=COMPONENTS,
        help="comma-separated parts to run: collector, api, alerts (default: all). The alert evaluator "
        "and the sealer run under leases, so only one process at a time is active.",
    )
    parser.add_argument("--host", help="listen address (default 127.0.0.1, LEDGERLINE_HOST)")
    parser.add_argument("--http-port", type=int, help="OTLP/HTTP port (default 4318)")
    parser.add_argument("--grpc-port", type=int, help="OTLP/gRPC port (default 4317)")
    parser.add_argument("--api-port", type=int, help="lineage API port (default 8000, LEDGERLINE_API_PORT)")
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="allow listening beyond loopback without LEDGERLINE_INGEST_TOKENS or with LEDGERLINE_API_AUTH=off",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="ledgerline", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    from dashboard.state import link_to
    from ledgerline.schema import migrate_all

    # Sub-commands that open a store migrate with the one registry; alerts link with the dashboard's function.
    parser.set_defaults(migrate_store=migrate_all, dashboard_link=link_to)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the collector, lineage API and alerts (owns the embedded store)")
    _add_serve_options(serve)
    serve.set_defaults(func=cmd_serve)
    migrate = sub.add_parser("migrate", help="apply schema migrations")
    migrate.add_argument(
        "--cluster",
        help="ClickHouse cluster: ON CLUSTER, Replicated and Distributed tables (LEDGERLINE_CLICKHOUSE_CLUSTER)",
    )
    migrate.add_argument("--print-sql", action="store_true", help="print the statements instead of applying them")
    migrate.set_defaults(func=cmd_migrate)
    from alerts import cli as alerts
    from dashboard import cli as dashboard
    from ledgerline import demo
    from ledgerline.grafana import cli as grafana
    from ledgerline.simulator import cli as simulate
    from lineage import cli as trace
    from lineage.auth import cli as token
    from lineage.close import cli as close
    from lineage.evidence import cli as evidence
    from lineage.explain import cli as explain
    from lineage.replay import cli as replay

    for register in (
        simulate.register,
        trace.register,
        token.register,
        replay.register,
        alerts.register,
        dashboard.register,
        evidence.register,
        explain.register,
        close.register,
        demo.register,
        grafana.register,
    ):
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ledgerline`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except ValidationError as exc:  # settings built outside read_settings: still one line
        print(f"ledgerline: error: {settings_error(exc)}", file=sys.stderr)
        return 2
    except LedgerlineError as exc:
        print(f"ledgerline: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C, or a stop signal during start-up (ledgerline/signals.py)
        return 128 + getattr(exc, "signum", signal.SIGINT)


if __name__ == "__main__":
    sys.exit(main())
