"""The lineage HTTP API (FastAPI; OpenAPI at /docs): one place that composes the app.

Every route group is a module-level ``APIRouter`` with its own prefix and tags, and
:data:`ROUTERS` is the one list of them; the composition root (ledgerline/server.py) adds the
routers of components lineage may not import (alerts) through ``extra_routers``. Routers get
their services from ``app.state`` through the dependencies beside them (lineage/api/deps.py
for the lineage service, windows and flows).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry

from collector.store import Store
from collector.store.errors import StoreError
from lineage import auth
from lineage.api import (
    business_metrics,
    docs,
    errors,
    exceptions,
    health,
    metrics,
    strict_query,
    telemetry,
    transactions,
)
from lineage.auth import routes as auth_routes
from lineage.auth.settings import AuthSettings
from lineage.business import api as business
from lineage.close import api as close_api
from lineage.close.config import CloseConfig, load_close
from lineage.core.flows import FlowConfig, load_flows
from lineage.core.service import Lineage
from lineage.evidence import api as evidence_api
from lineage.evidence.service import EvidenceService
from lineage.explain import api as explain_api
from lineage.insights import api as insights
from lineage.insights.scrape import BusinessMetrics
from lineage.replay import api as replay_api
from lineage.replay.document import replays_of
from lineage.replay.metrics import ReplayMetrics
from lineage.replay.service import ReplayService
from lineage.replay.settings import ReplaySettings
from lineage.replay.targets import Targets
from lineage.replay.worker import Worker
from lineage.settings import LineageSettings

ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    telemetry.router,
    business_metrics.router,
    docs.router,
    auth_routes.router,
    transactions.router,
    exceptions.router,
    metrics.router,
    insights.router,
    business.router,
    replay_api.router,
    evidence_api.router,
    explain_api.router,
    close_api.router,
)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The auth layer's writer while the app serves; on stop, the business metrics' refreshes end too."""
    async with auth.lifespan(app):
        try:
            yield
        finally:
            await to_thread.run_sync(app.state.business_metrics.close)


def create_app(
    settings: LineageSettings,
    store: Store,
    auth_settings: AuthSettings | None = None,
    *,
    flows: FlowConfig | None = None,
    replay: ReplaySettings | None = None,
    targets: Targets | None = None,
    evidence: EvidenceService | None = None,
    extra_routers: Sequence[APIRouter] = (),
    state: dict[str, Any] | None = None,
    registry: CollectorRegistry | None = None,
    close: CloseConfig | None = None,
) -> FastAPI:
    """The lineage API over ``store``.

    ``flows`` and ``targets`` already loaded (``serve`` validates them before anything
    listens), else read here (an invalid file is refused). Every ``/api/v1`` call is
    authenticated and checked against the permission table (``auth_settings``, default: from
    the environment, auth on). Without ``evidence`` the evidence routes answer 503. ``state``
    adds services the ``extra_routers`` read from ``app.state``. The replay delivery worker
    is ``app.state.replay_worker``, not started. ``registry``: where the API and the worker report
    their health, served on ``GET /metrics`` (``serve`` passes its process-wide one; else a new one).
    """
    app = FastAPI(
        title="ledgerline lineage",
        version="1",
        description="Business-transaction lineage, SLAs and exceptions reconstructed from stored hops.",
        lifespan=_lifespan,
        docs_url=None,  # lineage/api/docs.py serves /docs with local assets
        redoc_url=None,
    )
    lineage = Lineage(settings, store, flows or load_flows(settings.flows), replays=replays_of(store))
    app.state.lineage = lineage
    app.state.business_metrics = BusinessMetrics(lineage, business_metrics.limits_of(settings))
    app.state.close = close or load_close(lineage.config, settings.close)
    app.state.replay = ReplayService(replay or ReplaySettings(), lineage, targets)
    app.state.registry = registry if registry is not None else CollectorRegistry()
    app.state.replay_worker = Worker(app.state.replay, metrics=ReplayMetrics(app.state.registry))
    app.state.evidence = evidence
    for name, service in (state or {}).items():
        setattr(app.state, name, service)
    app.add_exception_handler(StoreError, errors.store_error)
    auth.install(app, auth_settings or AuthSettings(), store)  # before the routers: the permission check
    strict_query.install(app)  # after auth: an unknown parameter is refused to a caller who may call the route
    telemetry.install(app, app.state.registry)  # after auth: outermost, so its refusals are timed too
    docs.mount_assets(app)
    for router in (*ROUTERS, *extra_routers):
        app.include_router(router)
    return app
