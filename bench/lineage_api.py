"""The transaction lookup through the real API app, with and without a credential.

The same transactions are fetched in turn (``GET /api/v1/transactions/{id}``, in-process
through FastAPI's TestClient, so every request passes the auth middleware, the permission
check and the scope) by four callers:

- auth off (``LEDGERLINE_API_AUTH=off``: a local admin, no credential): the baseline;
- an unrestricted admin API token (verified tokens cached for ``token_cache_ttl_s``, 2 s);
- the same with the cache off (every request reads the token table);
- a viewer API token scoped to one legal entity.

The added p50 of each caller is its p50 minus the baseline's. ``GET /api/v1/whoami`` (no
store query) is timed the same way: the credential's own cost, without the lookup's noise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from fastapi.testclient import TestClient

from collector.store import Store
from lineage.api.app import create_app
from lineage.auth.settings import AuthSettings
from lineage.auth.tokens import TokenStore
from lineage.settings import LineageSettings

Figures = dict[str, tuple[float, float]]  # caller -> (p50 ms, p95 ms)
BASELINE = "auth off (baseline)"
LOOKUP, WHOAMI = "/api/v1/transactions/{}", "/api/v1/whoami"


@contextmanager
def _clients(settings: LineageSettings, store: Store, legal_entity: str) -> Iterator[dict[str, TestClient]]:
    """One API client per caller, each on an app of its own over ``store``."""
    tokens = TokenStore(store)
    admin = tokens.create("bench-admin@ledgerline", "admin")[1]
    scoped = tokens.create("bench-scoped@ledgerline", "viewer", [legal_entity])[1]
    callers = {
        BASELINE: (AuthSettings(api_auth="off"), None),
        "admin token, unrestricted": (AuthSettings(), admin),
        "admin token, token cache off": (AuthSettings(token_cache_ttl_s=0), admin),
        f"viewer token scoped to {legal_entity}": (AuthSettings(), scoped),
    }
    with ExitStack() as stack:
        out = {}
        for name, (auth, token) in callers.items():
            client = stack.enter_context(TestClient(create_app(settings, store, auth)))
            if token:
                client.headers["Authorization"] = f"Bearer {token}"
            out[name] = client
        yield out


def _get(client: TestClient, template: str) -> Callable[[str], Any]:
    def call(arg: str) -> None:
        response = client.get(template.format(arg))
        if response.status_code != 200:
            raise RuntimeError(f"{template.format(arg)} answered {response.status_code}: {response.text[:200]}")

    return call


def measure(
    settings: LineageSettings,
    store: Store,
    ids: list[str],
    runs: int,
    legal_entity: str,
    paired: Callable[[list[Callable[[str], Any]], list[str], int], list[tuple[float, float]]],
) -> dict[str, Figures]:
    """Per path, p50/p95 per caller over the same ``ids`` (transactions of ``legal_entity``), interleaved."""
    out = {}
    with _clients(settings, store, legal_entity) as clients:
        for template in (LOOKUP, WHOAMI):
            calls = [_get(c, template) for c in clients.values()]
            for fn in calls:  # warm up (and check every caller gets its answer)
                fn(ids[0])
            out[template] = dict(zip(clients, paired(calls, ids, runs), strict=True))
    return out


def report(path: str, figures: Figures, runs: int) -> list[str]:
    """The lines ``bench.lineage`` prints for one path."""
    base = figures[BASELINE][0]
    lines = [
        f"GET {path.format('{id}')} through the API app, {runs} runs per caller, interleaved:",
        f"  {'caller':<38}{'p50 ms':>10}{'p95 ms':>10}{'added p50':>11}",
    ]
    for name, (p50, p95) in figures.items():
        added = "" if name == BASELINE else f"{p50 - base:+.2f}"
        lines.append(f"  {name:<38}{p50:>10.2f}{p95:>10.2f}{added:>11}")
    return lines
