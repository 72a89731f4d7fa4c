"""Routes of the estate's figures over time: posting latency, throughput, the exception backlog,
SLA breaches. Each takes the query context (lineage/api/context.py) and echoes what it applied."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from lineage.api.context import NOT_PER_FLOW, Ctx, MetricsCtx
from lineage.api.deps import BucketMs, GroupBy, Svc, bad
from lineage.api.models import Backlog, Breaches, PostingLatency, Throughput
from lineage.business import metrics
from lineage.insights.service import latency_histogram

router = APIRouter(prefix="/api/v1", tags=["metrics"])


@router.get("/metrics/posting-latency", response_model=PostingLatency)
def posting_latency(
    svc: Svc,
    ctx: MetricsCtx,
    bucket_ms: BucketMs,
    group_by: GroupBy | None = None,
    histogram: Annotated[
        bool, Query(description="also the distribution of every posting in the same context (one call per page)")
    ] = False,
) -> Any:
    """Count and p50/p95/p99 of posting latency (the flow's from-step to to-step, across correlation IDs) per
    time bucket, optionally per system, region or legal entity; ``system`` is the posting's. At most ``limit``
    rows; ``truncated`` when more. With ``histogram=true`` the answer also holds
    ``GET /metrics/posting-latency/histogram``'s for the same context.
    """
    flow = svc.config.flow(ctx.flow or None)
    doc = metrics.posting_latency(svc, ctx.scope, flow, ctx.window, bucket_ms, group_by or "", ctx.system)
    echo = ctx.echo(flow=flow.name)
    if histogram:
        hist = latency_histogram(svc, ctx.scope, flow, ctx.window, ctx.system, ctx.region, ctx.legal_entity)
        doc["histogram"] = hist | {"context": echo}
    return doc | {"context": echo}


@router.get("/metrics/throughput", response_model=Throughput)
def throughput(svc: Svc, ctx: MetricsCtx, bucket_ms: BucketMs, group_by: GroupBy | None = None) -> Any:
    """Stages completed per time bucket (one per entity and step; retries not counted), optionally per
    system, region or legal entity. At most ``limit`` rows; ``truncated`` when more.
    """
    flow = svc.config.flow(ctx.flow or None)
    doc = metrics.throughput(svc, ctx.scope, flow, ctx.window, bucket_ms, group_by or "", ctx.system)
    return doc | {"context": ctx.echo(flow=flow.name)}


@router.get("/metrics/exception-backlog", response_model=Backlog)
def exception_backlog(svc: Svc, ctx: MetricsCtx, bucket_ms: BucketMs) -> Any:
    """Unresolved exceptions per time bucket and category, and the ages of those unresolved now (under 1 h,
    1-4 h, 4-24 h, over 24 h); ``system`` is the failing system. Not per flow.
    """
    window = ctx.window
    buckets = -(-(window.until_ms - window.since_ms) // bucket_ms)
    doc = metrics.exception_backlog(svc, ctx.scope, window, bucket_ms, buckets, ctx.system)
    return doc | {"context": ctx.echo(not_applied={"flow": NOT_PER_FLOW})}


@router.get("/sla/breaches", response_model=Breaches)
def sla_breaches(
    svc: Svc,
    ctx: Ctx,
    stage: str = "",
    every_flow: Annotated[bool, Query(description="breaches of every flow in one answer (no flow filter)")] = False,
) -> Any:
    """SLA breaches of a flow (with ``every_flow``, of every flow: each breach names its flow) in the
    window: stages completed late, stages open and overdue, and end-to-end breaches, most overdue first;
    optionally one stage; ``system``: transactions with a hop of that system. At most ``limit``;
    ``truncated`` when more.
    """
    if every_flow and ctx.flow:
        raise bad("every_flow=true and flow are exclusive: name one flow or none")
    flows = list(svc.config.flows.values()) if every_flow else [svc.config.flow(ctx.flow or None)]
    if stage and stage != "end_to_end" and all(f.stage_named(stage) is None for f in flows):
        raise bad(f"{'no flow has' if every_flow else f'flow {flows[0].name!r} has no'} stage {stage!r}")
    name = "" if every_flow else flows[0].name
    doc = svc.sla_breaches(ctx.scope, ctx.window, name, stage, ctx.system)
    return doc | {"context": ctx.echo(flow=name)}
