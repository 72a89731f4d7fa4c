"""The ``ledgerline`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from collector.errors import LedgerlineError
from collector.settings import CollectorSettings


def _collector_settings(args: argparse.Namespace) -> CollectorSettings:
    overrides: dict[str, object] = {}
    for name in ("host", "http_port", "grpc_port"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    if getattr(args, "insecure", False):
        overrides["insecure"] = True
    return CollectorSettings(**overrides)  # type: ignore[arg-type]


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply schema migrations and print what was applied."""
    from collector.store import open_store
    from ledgerline.server import migrate_all

    settings = CollectorSettings()
    store = open_store(settings, migrate=False)
    try:
        applied = migrate_all(store, settings)
    finally:
        store.close()
    print(
        f"schema up to date at {settings.dsn} (database {settings.clickhouse_database}); "
        f"applied: {applied or 'nothing'}"
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the collector and the lineage API until interrupted."""
    from ledgerline.server import Server, print_urls, wait_for_signal
    from lineage.settings import LineageSettings

    api_port = args.api_port if args.api_port is not None else LineageSettings().api_port
    server = Server(_collector_settings(args), api_port=api_port)
    server.start()
    print_urls(server)
    print("ledgerline is serving; Ctrl-C to stop.", flush=True)
    try:
        wait_for_signal()
    finally:
        print("stopping: flushing accepted spans ...", flush=True)
        server.stop()
        print("stopped.", flush=True)
    return 0


def _add_serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="listen address (default 127.0.0.1, LEDGERLINE_HOST)")
    parser.add_argument("--http-port", type=int, help="OTLP/HTTP port (default 4318)")
    parser.add_argument("--grpc-port", type=int, help="OTLP/gRPC port (default 4317)")
    parser.add_argument("--api-port", type=int, help="lineage API port (default 8000, LEDGERLINE_API_PORT)")
    parser.add_argument(
        "--insecure", action="store_true", help="allow listening beyond loopback without LEDGERLINE_INGEST_TOKENS"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="ledgerline", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the collector, lineage API and alerts (owns the embedded store)")
    _add_serve_options(serve)
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="apply schema migrations").set_defaults(func=cmd_migrate)
    from alerts import cli as alerts
    from dashboard import cli as dashboard
    from ledgerline import demo
    from ledgerline.simulator import cli as simulate
    from lineage import cli as trace
    from lineage.evidence import cli as evidence

    for register in (simulate.register, trace.register, alerts.register, dashboard.register, demo.register):
        register(sub)
    evidence.register(sub)
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
    except LedgerlineError as exc:
        print(f"ledgerline: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
