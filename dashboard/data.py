"""Cached API calls for the Streamlit layer (short TTL, errors are not cached)."""

from __future__ import annotations

import sys
from typing import Any

import streamlit as st

from dashboard.api import ApiClient, api_url_from_env

TTL_S = 20


@st.cache_resource
def _client(base_url: str) -> ApiClient:
    return ApiClient(base_url)


def api_url(argv: list[str] | None = None) -> str:
    """``--api-url`` after ``--`` on the streamlit command line, else ``$LEDGERLINE_API_URL``."""
    args = sys.argv[1:] if argv is None else argv
    for i, arg in enumerate(args):
        if arg == "--api-url" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--api-url="):
            return arg.partition("=")[2]
    return api_url_from_env()


def client() -> ApiClient:
    """The API client of this process."""
    return _client(api_url())


@st.cache_data(ttl=TTL_S, show_spinner=False)
def fetch(method: str, **params: Any) -> dict[str, Any]:
    """``ApiClient.<method>(**params)``, cached for a short time."""
    result: dict[str, Any] = getattr(client(), method)(**params)
    return result


@st.cache_data(ttl=TTL_S, show_spinner=False)
def lookup(query: str) -> list[dict[str, Any]]:
    """Transactions for a correlation ID or business key, cached for a short time."""
    return client().lookup(query)


@st.cache_data(ttl=300, show_spinner=False)
def group_values(group_by: str) -> list[str]:
    """Known regions or legal entities (from a week of posting latency)."""
    doc = client().posting_latency(since="7d", bucket="1d", group_by=group_by)
    return sorted({b["group"] for b in doc["buckets"] if b["group"]})


def invalidate() -> None:
    """Forget cached answers (after an ack or resolve)."""
    fetch.clear()
    lookup.clear()
