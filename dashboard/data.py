"""Cached API calls for the Streamlit layer (short TTL, errors are not cached)."""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
from datetime import UTC, datetime
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from dashboard.api import ApiClient, ApiError, credential
from dashboard.settings import DashboardSettings


@functools.cache
def settings() -> DashboardSettings:
    """The dashboard's settings, read once per process."""
    return DashboardSettings()


TTL_S = settings().dashboard_cache_ttl_s


# Keyed by credential: every cached answer below belongs to one caller and is never
# shown to another (people behind the proxy see different scopes).
@st.cache_resource(max_entries=256)
def _client(base_url: str, token: str) -> ApiClient:
    return ApiClient(base_url, token=token)


def token() -> str:
    """The credential of this page view (forwarded person's token or the service token)."""
    return credential(settings(), dict(st.context.headers))


def api_url(argv: list[str] | None = None) -> str:
    """``--api-url`` after ``--`` on the streamlit command line, else ``$LEDGERLINE_API_URL``."""
    args = sys.argv[1:] if argv is None else argv
    for i, arg in enumerate(args):
        if arg == "--api-url" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--api-url="):
            return arg.partition("=")[2]
    return settings().api_url


def client() -> ApiClient:
    """The API client of this page view's caller."""
    return _client(api_url(), token())


def fetch(method: str, **params: Any) -> dict[str, Any]:
    """``ApiClient.<method>(**params)``, cached for a short time per caller (the parameters
    in name order, so the same call is one cache entry however it is written)."""
    return _fetch(token(), method, **dict(sorted(params.items())))


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _fetch(credential: str, method: str, **params: Any) -> dict[str, Any]:
    result: dict[str, Any] = getattr(_client(api_url(), credential), method)(**params)
    result.setdefault("_fetched_at", datetime.now(UTC).isoformat())
    return result


def prefetch(*calls: tuple[str, dict[str, Any]]) -> None:
    """Warm the cache for several ``(method, params)`` calls at once (the API answers them in
    parallel); later :func:`fetch` calls with the same arguments return at once. Errors are
    left for those calls to raise."""
    ctx = get_script_run_ctx()
    caller = token()

    def run(method: str, params: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):  # the page's own fetch reports it
            _fetch(caller, method, **dict(sorted(params.items())))

    threads = [threading.Thread(target=run, args=call, daemon=True) for call in calls]
    for thread in threads:
        add_script_run_ctx(thread, ctx)
        thread.start()
    for thread in threads:
        thread.join()


def lookup(query: str) -> dict[str, Any]:
    """One search for a correlation ID or business key, cached for a short time per caller."""
    return _lookup(token(), query)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _lookup(credential: str, query: str) -> dict[str, Any]:
    return _client(api_url(), credential).lookup(query)


def known() -> dict[str, Any]:
    """The sidebar's values and the freshness line's newest hop, in one call (``GET /api/v1/known``)
    cached for a short time per caller, so a page costs this call and its figures' call."""
    return _fetch(token(), "known")


def group_values(group_by: str) -> list[str]:
    """Known regions or legal entities (``region`` or ``legal_entity``) the caller may see."""
    values: list[str] = known()["regions" if group_by == "region" else "legal_entities"]
    return values


def flows() -> list[dict[str, Any]]:
    """The API's flows (default first)."""
    flows: list[dict[str, Any]] = known()["flows"]
    return flows


def flow_names() -> list[str]:
    """Names of the API's flows; empty when the API cannot say."""
    try:
        return [f["name"] for f in flows()]
    except ApiError:
        return []


def systems() -> list[str]:
    """Systems the caller's scope has seen in 30 days plus those the flows file names."""
    try:
        return [s["system"] for s in known()["systems"]]
    except ApiError:
        return []


def whoami() -> dict[str, Any]:
    """Who the API takes the caller for."""
    me: dict[str, Any] = known()["me"]
    return me


def may(permission: str) -> bool:
    """True when the caller's role holds ``permission`` (e.g. ``act``); False when unknown."""
    try:
        return permission in whoami().get("permissions", [])
    except Exception:  # not signed in or API down: show no action
        return False


def may_act(what: str, permission: str = "act", who: str = "operators and admins") -> bool:
    """True when the caller holds ``permission`` (taking actions: ``act``; signing a period's close:
    ``close``); else a short note says why ``what`` is not offered and ``who`` can, so the other
    roles see the states but no forms."""
    if may(permission):
        return True
    try:
        role = str(whoami().get("role") or "unknown")
    except Exception:  # not signed in or API down: the page says so elsewhere
        role = "unknown"
    st.caption(f"Read only: your role ({role}) cannot {what}; {who} can.")
    return False


def invalidate() -> None:
    """Forget cached answers (after an ack or resolve)."""
    _fetch.clear()
    _lookup.clear()
