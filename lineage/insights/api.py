"""The insights routes (included by lineage/api/app.py). Reads only,
``read`` permission; every answer comes from the caller's scope."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from lineage.api.context import KNOWN, NOT_PER_FLOW, Ctx, MetricsCtx
from lineage.api.deps import BucketMs, Svc, Win
from lineage.api.models import LatencyHistogram
from lineage.auth.permissions import identity
from lineage.auth.principal import CurrentPrincipal, CurrentScope
from lineage.core.timeparse import to_ms, utcnow
from lineage.core.window import Window
from lineage.insights import service
from lineage.insights.models import AtRisk, Flows, Known, Overview, RiskKind, Systems
from lineage.insights.overview import overview as overview_of

router = APIRouter(prefix="/api/v1", tags=["insights"])


@router.get("/flows", response_model=Flows)
def list_flows(svc: Svc) -> Any:
    """The flows of the loaded flows file (default first): stages with their SLAs, the
    end-to-end SLA and the posting-latency step pair. Pickers and SLA lines use these."""
    return service.flows(svc)


@router.get("/systems", response_model=Systems)
def list_systems(svc: Svc, scope: CurrentScope, window: Win) -> Any:
    """Systems that reported hops in the caller's scope in the window (default: the listing
    window), with their hop count and last hop; plus the systems the flows file names
    (``hops`` 0). At most ``limit`` seen systems; ``truncated`` when more were."""
    return service.systems(svc, scope, window)


@router.get("/known", response_model=Known)
def known(svc: Svc, principal: CurrentPrincipal) -> Any:
    """Everything a client's pickers and freshness line need, in one call: the flows (as ``/flows``), the
    systems seen in the caller's scope in 30 days (as ``/systems?since=30d&limit=1000``), the regions and legal
    entities the figure routes know (an ``unknown`` echo names the same values), who the caller is (as
    ``/whoami``) and the newest hop in scope."""
    now = to_ms(utcnow())
    month = Window(now - 30 * 86_400_000, now, min(1000, svc.settings.query_max_rows))
    systems = service.systems(svc, principal.scope, month)
    values = KNOWN.of(svc, principal.scope)
    seen = [s["last_seen"] for s in systems["systems"] if s["last_seen"]]
    return (
        service.flows(svc)
        | systems
        | {
            "regions": values["region"],
            "legal_entities": values["legal_entity"],
            "me": identity(principal),
            "newest_hop": max(seen) if seen else None,
        }
    )


@router.get("/metrics/posting-latency/histogram", response_model=LatencyHistogram)
def posting_latency_histogram(svc: Svc, ctx: MetricsCtx) -> Any:
    """Distribution of posting latency built from every posting in the window (not from
    bucket medians): counts in fixed log-spaced bins (0, then 1 s to 7 d, six per decade),
    exact p50/p95/p99, the maximum and how many exceeded the stage SLA; ``system``, ``region`` and
    ``legal_entity`` are the posting's (else the issuing hop's)."""
    flow = svc.config.flow(ctx.flow or None)
    doc = service.latency_histogram(svc, ctx.scope, flow, ctx.window, ctx.system, ctx.region, ctx.legal_entity)
    return doc | {"context": ctx.echo(flow=flow.name)}


@router.get("/at-risk", response_model=AtRisk)
def at_risk(
    svc: Svc,
    ctx: Ctx,
    kind: Annotated[RiskKind | None, Query(description="list only this kind; totals cover all")] = None,
) -> Any:
    """Money at risk and the lists behind the headline figures: open exceptions (seen in the
    window) and stuck, failed or SLA-breached transactions (started in the window), each with
    business key, amount, currency, system, region and age, oldest first (at most ``limit``);
    totals per kind and currency, overall, by system and by region. Filters apply to every
    part, except ``flow``, which narrows transactions only (exceptions are not per flow)."""
    doc = service.at_risk(svc, ctx.scope, ctx.window, kind or "", ctx.system, ctx.region, ctx.flow)
    return doc | {"context": ctx.echo(not_applied={"flow": f"applied to transactions only: {NOT_PER_FLOW}"})}


@router.get("/overview", response_model=Overview)
def overview(svc: Svc, ctx: MetricsCtx, bucket_ms: BucketMs) -> Any:
    """The overview of one context in one answer: per kind (open exceptions, stuck, failed and SLA-breached
    transactions) the count and money per currency, exactly the totals of ``GET /api/v1/at-risk`` with the
    same context (the list behind each card); postings and their p95 over the window and per bucket; money
    at risk by system and region; the worst systems and regions by open exceptions and the slowest regions
    by p95 posting latency. ``flow`` narrows transactions and postings, not exceptions.
    """
    flow = svc.config.flow(ctx.flow or None)
    doc = overview_of(
        svc, ctx.scope, ctx.window, flow, bucket_ms, system=ctx.system, region=ctx.region, le=ctx.legal_entity,
        flow_asked=ctx.flow,
    )  # fmt: skip
    return doc | {"context": ctx.echo(not_applied={"flow": f"applied to transactions only: {NOT_PER_FLOW}"})}
