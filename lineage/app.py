"""The lineage HTTP API (FastAPI; OpenAPI at /docs). Routes are thin: parse, call, shape."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse

from collector.errors import QueryTimeout, StoreError
from collector.store import Store
from lineage import auth, docs, metrics
from lineage.auth.settings import AuthSettings
from lineage.flows import Flow, FlowConfig, load_flows
from lineage.models import (
    ActionIn,
    Backlog,
    Breaches,
    EntityTransactions,
    ExceptionList,
    ExceptionOut,
    PostingLatency,
    SearchResult,
    Throughput,
    Transaction,
    TransactionList,
)
from lineage.principal import CurrentPrincipal, CurrentScope
from lineage.service import Lineage, Window
from lineage.settings import LineageSettings
from lineage.timeparse import parse_duration, parse_instant, to_ms, utcnow

MAX_WINDOW_MS = 92 * 86400 * 1000
Status = Literal["complete", "in_flight", "stuck", "failed"]
GroupBy = Literal["system", "region", "legal_entity"]


def _service(request: Request) -> Lineage:
    svc: Lineage = request.app.state.lineage
    return svc


Svc = Annotated[Lineage, Depends(_service)]


def _bad(message: str) -> HTTPException:
    return HTTPException(status_code=422, detail=message)


def _window_dep(default: str | None) -> Any:
    """A dependency parsing since/until/limit; ``default`` since (None: the settings' window)."""

    def window(
        svc: Svc,
        since: Annotated[str | None, Query(description="ISO-8601 or a duration ago, e.g. 24h")] = None,
        until: Annotated[str | None, Query(description="ISO-8601 or a duration ago; default now")] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100 if default is None else 5000,
    ) -> Window:
        now = utcnow()
        try:
            start = parse_instant(since or default or svc.settings.default_window, now)
            end = parse_instant(until, now) if until else now
        except ValueError as exc:
            raise _bad(str(exc)) from None
        since_ms, until_ms = to_ms(start), to_ms(end)
        if until_ms <= since_ms:
            raise _bad("'until' must be after 'since'")
        if until_ms - since_ms > MAX_WINDOW_MS:
            raise _bad("the window may span 92 days at most")
        return Window(since_ms, until_ms, min(limit, svc.settings.query_max_rows))

    return window


Win = Annotated[Window, Depends(_window_dep(None))]
# Metrics default to the last 24 hours.
MetricsWin = Annotated[Window, Depends(_window_dep("24h"))]


def bucket_ms(svc: Lineage, window: Window, bucket: str) -> int:
    """A bucket width in ms: at least 1 s and at most ``max_buckets`` of them in the window (else 422)."""
    try:
        ms = int(parse_duration(bucket).total_seconds() * 1000)
    except ValueError as exc:
        raise _bad(str(exc)) from None
    if ms < 1000:
        raise _bad("bucket must be at least 1s")
    if (window.until_ms - window.since_ms) / ms > svc.settings.max_buckets:
        raise _bad(f"too many buckets: at most {svc.settings.max_buckets} per query; widen 'bucket'")
    return ms


def _bucket(svc: Svc, window: MetricsWin, bucket: Annotated[str, Query(description="e.g. 5m, 1h")] = "5m") -> int:
    return bucket_ms(svc, window, bucket)


BucketMs = Annotated[int, Depends(_bucket)]


def _flow(
    svc: Svc, flow: Annotated[str | None, Query(description="flow name; default flow if omitted")] = None
) -> Flow:
    if flow and flow not in svc.config.flows:
        raise _bad(f"unknown flow {flow!r}; known: {', '.join(sorted(svc.config.flows))}")
    return svc.config.flow(flow)


FlowDep = Annotated[Flow, Depends(_flow)]
ExcId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="Stable exception id")]


# Every 503 of the API carries this: a store hiccup is worth retrying, not a bug.
RETRY_AFTER = {"Retry-After": "2"}


def _store_error(_: Request, exc: Exception) -> JSONResponse:
    """The one answer to a StoreError raised by any route (lineage, alerts, evidence, replay)."""
    what = "the store did not answer in time" if isinstance(exc, QueryTimeout) else "the store is unavailable"
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return JSONResponse(status_code=503, content={"detail": f"{what}: {first}"}, headers=RETRY_AFTER)


def create_app(
    settings: LineageSettings,
    store: Store,
    auth_settings: AuthSettings | None = None,
    *,
    flows: FlowConfig | None = None,
) -> FastAPI:
    """The lineage API over ``store``; ``flows`` already loaded, else read (an invalid file is refused).

    Every ``/api/v1`` call is authenticated and checked against the permission table
    (``auth_settings``, default: from the environment, auth on).
    """
    app = FastAPI(
        title="ledgerline lineage",
        version="1",
        description="Business-transaction lineage, SLAs and exceptions reconstructed from stored hops.",
        lifespan=auth.lifespan,
        docs_url=None,  # lineage/docs.py serves /docs with local assets
        redoc_url=None,
    )
    app.state.lineage = Lineage(settings, store, flows or load_flows(settings.flows))
    app.add_exception_handler(StoreError, _store_error)
    auth.install(app, auth_settings or AuthSettings(), store)
    _health(app, store)
    _routes(app)
    from lineage.insights.api import create_router  # imports this module's dependencies

    app.include_router(create_router())
    docs.install(app)

    # Imported here: the flow routes reuse this module's dependencies (window, bucket, flow).
    from lineage import flow_routes

    flow_routes.install(app)
    return app


def _health(app: FastAPI, store: Store) -> None:
    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        if store.ping():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "store unavailable"}, status_code=503, headers=RETRY_AFTER)


def _routes(app: FastAPI) -> None:  # noqa: C901 - a flat list of thin routes
    @app.get("/api/v1/transactions/{correlation_id}", response_model=Transaction)
    def get_transaction(svc: Svc, scope: CurrentScope, correlation_id: str) -> Any:
        """One transaction's lineage from its hops in the caller's scope: hops (retries folded into attempts),
        entity nodes and edges, stitched transactions (bounded; how many were left out), SLA per stage and end
        to end, conformance and amount findings, exceptions and replays. 404 when no hop is stored or none is
        in scope.
        """
        doc = svc.transaction(scope, correlation_id)
        if doc is None:
            raise HTTPException(404, f"no hops stored for correlation ID {correlation_id!r}")
        return doc

    @app.get("/api/v1/entities/{entity_type}/{entity_id}", response_model=EntityTransactions)
    def get_entity(
        svc: Svc,
        scope: CurrentScope,
        entity_type: str,
        entity_id: str,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> Any:
        """The correlation IDs a business key (entity type and id) belongs to, first seen first, and their
        transactions; at most ``limit``, ``truncated`` when more. 404 when no hop of the entity is in scope.
        """
        doc = svc.entity(scope, entity_type, entity_id, limit)
        if doc is None:
            raise HTTPException(404, f"no hops stored for entity {entity_type}:{entity_id}")
        return doc

    @app.get("/api/v1/search", response_model=SearchResult)
    def search(
        svc: Svc,
        scope: CurrentScope,
        request: Request,
        q: Annotated[str, Query(min_length=1, max_length=500, description="correlation ID, type:id, or a bare key")],
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> Any:
        """One search as a user types it: a correlation ID, else a business key ``type:id``, else a key of
        any entity type (``INV-1`` finds ``invoice:INV-1``). One call, one access-log entry. 404 when
        nothing in scope matches.
        """
        auth.set_audit_target(request, q.strip()[:500])
        doc = svc.search(scope, q, limit)
        if doc is None:
            raise HTTPException(404, f"nothing found for {q.strip()!r}: no correlation ID and no business key")
        return doc

    @app.get("/api/v1/transactions", response_model=TransactionList)
    def list_transactions(
        svc: Svc,
        scope: CurrentScope,
        window: Win,
        status: Status | None = None,
        flow: str = "",
        system: str = "",
        region: str = "",
    ) -> Any:
        """Transactions whose first hop started in the window, newest first, filtered by status, flow,
        system and region; status and SLA derived in SQL. At most ``limit``; ``truncated`` when more
        matched.
        """
        return svc.transactions(scope, window, status or "", flow, system, region)

    @app.get("/api/v1/exceptions", response_model=ExceptionList)
    def list_exceptions(
        svc: Svc,
        scope: CurrentScope,
        window: Win,
        state: Literal["open", "acknowledged", "resolved"] | None = None,
        category: str = "",
        system: str = "",
    ) -> Any:
        """Exceptions (failed, retried or dead-lettered entity and step) seen in the window, newest first,
        filtered by state, category and system. At most ``limit``; ``truncated`` when more matched.
        """
        return svc.exceptions(scope, window, state or "", category, system)

    @app.get("/api/v1/exceptions/{exception_id}", response_model=ExceptionOut)
    def get_exception(svc: Svc, scope: CurrentScope, exception_id: ExcId) -> Any:
        """One exception with its audit trail (acknowledgements, resolutions, replays). 404 when unknown or
        outside the caller's scope.
        """
        return _found(svc.exception(scope, exception_id, to_ms(utcnow()) - MAX_WINDOW_MS), exception_id)

    # The actor of a write is the authenticated subject; a body's "actor" is ignored.
    @app.post("/api/v1/exceptions/{exception_id}/ack", response_model=ExceptionOut)
    def ack(svc: Svc, principal: CurrentPrincipal, scope: CurrentScope, exception_id: ExcId, body: ActionIn) -> Any:
        """Acknowledge an exception; the authenticated caller is recorded as the actor with the note (append-only
        audit trail). Answers the exception as it is now.
        """
        done = svc.act(scope, exception_id, "ack", principal.subject, body.note, to_ms(utcnow()) - MAX_WINDOW_MS)
        return _found(done, exception_id)

    @app.post("/api/v1/exceptions/{exception_id}/resolve", response_model=ExceptionOut)
    def resolve(svc: Svc, principal: CurrentPrincipal, scope: CurrentScope, exception_id: ExcId, body: ActionIn) -> Any:
        """Resolve an exception by hand; the authenticated caller is recorded as the actor with the note. A later
        failure reopens it.
        """
        done = svc.act(scope, exception_id, "resolve", principal.subject, body.note, to_ms(utcnow()) - MAX_WINDOW_MS)
        return _found(done, exception_id)

    @app.get("/api/v1/metrics/posting-latency", response_model=PostingLatency)
    def posting_latency(
        svc: Svc,
        scope: CurrentScope,
        window: MetricsWin,
        bucket_ms: BucketMs,
        flow: FlowDep,
        group_by: GroupBy | None = None,
    ) -> Any:
        """Count and p50/p95/p99 of posting latency (the flow's from-step to to-step, across correlation IDs) per
        time bucket, optionally per system, region or legal entity. At most ``limit`` rows; ``truncated`` when
        more.
        """
        return metrics.posting_latency(svc, scope, flow, window, bucket_ms, group_by or "")

    @app.get("/api/v1/metrics/throughput", response_model=Throughput)
    def throughput(
        svc: Svc,
        scope: CurrentScope,
        window: MetricsWin,
        bucket_ms: BucketMs,
        flow: FlowDep,
        group_by: GroupBy | None = None,
    ) -> Any:
        """Stages completed per time bucket (one per entity and step; retries not counted), optionally per
        system, region or legal entity. At most ``limit`` rows; ``truncated`` when more.
        """
        return metrics.throughput(svc, scope, flow, window, bucket_ms, group_by or "")

    @app.get("/api/v1/metrics/exception-backlog", response_model=Backlog)
    def exception_backlog(svc: Svc, scope: CurrentScope, window: MetricsWin, bucket_ms: BucketMs) -> Any:
        """Unresolved exceptions per time bucket and category, and the ages of those unresolved now (under 1 h,
        1-4 h, 4-24 h, over 24 h).
        """
        buckets = -(-(window.until_ms - window.since_ms) // bucket_ms)
        return metrics.exception_backlog(svc, scope, window, bucket_ms, buckets)

    @app.get("/api/v1/sla/breaches", response_model=Breaches)
    def sla_breaches(svc: Svc, scope: CurrentScope, window: Win, flow: FlowDep, stage: str = "") -> Any:
        """SLA breaches of a flow in the window: stages completed late, stages open and overdue, and end-to-end
        breaches, most overdue first; optionally one stage. At most ``limit``; ``truncated`` when more.
        """
        if stage and stage != "end_to_end" and flow.stage_named(stage) is None:
            raise _bad(f"flow {flow.name!r} has no stage {stage!r}")
        return svc.sla_breaches(scope, window, flow.name, stage)


def _found(doc: dict[str, Any] | None, exception_id: str) -> dict[str, Any]:
    if doc is None:
        raise HTTPException(404, f"no exception {exception_id}")
    return doc
