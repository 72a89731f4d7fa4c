"""``ledgerline dashboard``: serve the finance operations dashboard (Streamlit) until interrupted."""

from __future__ import annotations

import argparse
import signal
import subprocess
from typing import Any

from dashboard.api import API_URL_ENV, api_url_from_env
from dashboard.launch import command, stop
from dashboard.settings import DashboardSettings


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``dashboard`` sub-command; it sets ``func`` to :func:`run`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "dashboard",
        help="serve the finance operations dashboard",
        description="Serve the dashboard; it reads the lineage HTTP API only.",
    )
    parser.add_argument(
        "--api-url", default=None, help=f"lineage API base URL (default ${API_URL_ENV} or http://127.0.0.1:8000)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (default $LEDGERLINE_DASHBOARD_PORT or 8501)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run streamlit in the foreground until it exits (its exit code) or Ctrl-C/SIGTERM (0)."""
    port = args.port if args.port is not None else DashboardSettings().dashboard_port
    argv = command(args.api_url or api_url_from_env(), args.host, port)
    print(
        f"dashboard on http://{args.host}:{port} (API {args.api_url or api_url_from_env()}); Ctrl-C to stop",
        flush=True,
    )
    received: list[int] = []

    def interrupt(signum: int, _frame: object) -> None:
        if not received:  # the first one stops; later ones must not cut the child's stop short
            received.append(signum)
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    process: subprocess.Popen[bytes] | None = None
    try:
        process = subprocess.Popen(argv)
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if process is not None:
            stop(process)  # never leave streamlit holding the port
        for sig, handler in previous.items():
            signal.signal(sig, handler)
