"""What every command that calls the lineage API shares: ``--api``/``--token``, the bearer
header, and the one way an API refusal is told to the user."""

from __future__ import annotations

import argparse
import os

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
