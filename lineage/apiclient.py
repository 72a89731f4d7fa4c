"""What every command that calls the lineage API shares: ``--api``/``--token``, the bearer
header, and the one way an API refusal is told to the user."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

import httpx

DEFAULT_API = "http://127.0.0.1:8000"
TOKEN_ENV = "LEDGERLINE_API_TOKEN"


def add_client_options(parser: argparse.ArgumentParser) -> None:
    """``--api`` and ``--token``, shared by every command that calls the API."""
    parser.add_argument(
        "--api",
        default=os.environ.get("LEDGERLINE_API_URL", DEFAULT_API),
        help=f"lineage API base URL (default $LEDGERLINE_API_URL or {DEFAULT_API})",
    )
    parser.add_argument(
        "--token", default=os.environ.get(TOKEN_ENV) or None, help=f"API bearer token (default ${TOKEN_ENV})"
    )


def auth_headers(token: str | None) -> dict[str, str]:
    """The Authorization header for ``token`` (none without one)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def api_detail(response: httpx.Response) -> str:
    """The ``detail`` of an API error answer (or the start of its body)."""
    try:
        return str(response.json().get("detail"))
    except ValueError:
        return response.text[:200]


def refusal(response: httpx.Response) -> str:
    """What an API error answer says, with a hint for a missing credential and its HTTP status."""
    detail = api_detail(response)
    if response.status_code == 401:
        detail += f"; pass --token or set {TOKEN_ENV}"
    return f"{detail} (HTTP {response.status_code})"


def fail(command: str, message: str, code: int = 2) -> int:
    """One line on stderr, ``ledgerline <command>: <message>``; returns the exit ``code``."""
    print(f"ledgerline {command}: {message}", file=sys.stderr)
    return code


def get_json(
    command: str, args: argparse.Namespace, path: str, params: dict[str, str] | None = None
) -> tuple[Any, int]:
    """GET ``path`` from ``args.api`` with ``args.token``: ``(document, 0)`` on 200; otherwise one
    line on stderr, ``ledgerline <command>: ...``, and ``(None, code)``: 1 for a 404, 2 else."""
    try:
        response = httpx.get(
            args.api.rstrip("/") + path, params=params, headers=auth_headers(args.token), timeout=args.timeout
        )
    except httpx.HTTPError as exc:
        return None, fail(command, f"cannot reach the lineage API at {args.api}: {exc}")
    if response.status_code != 200:
        return None, fail(command, refusal(response), 1 if response.status_code == 404 else 2)
    return response.json(), 0


def emit(doc: Any, out: TextIO, as_json: bool, text: Callable[[], str]) -> int:
    """Print an answer as JSON (``--json``) or as the command's text; exit code 0."""
    if as_json:
        json.dump(doc, out, indent=2)
        out.write("\n")
    else:
        out.write(text() + "\n")
    return 0
