"""``ledgerline dashboard``: serve the finance operations dashboard (Streamlit) until interrupted."""

from __future__ import annotations

import argparse
import subprocess
from typing import Any

from dashboard.api import API_URL_ENV, api_url_from_env
from dashboard.launch import command


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
    parser.add_argument("--port", type=int, default=8501, help="listen port (default 8501)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run streamlit in the foreground; its exit code (0 on Ctrl-C)."""
    argv = command(args.api_url or api_url_from_env(), args.host, args.port)
    print(
        f"dashboard on http://{args.host}:{args.port} (API {args.api_url or api_url_from_env()}); Ctrl-C to stop",
        flush=True,
    )
    process = subprocess.Popen(argv)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        return 0
