"""Routes of the estate's figures over time: posting latency, throughput, the exception backlog, SLA breaches."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from lineage.api.deps import BucketMs, FlowDep, GroupBy, MetricsWin, Svc, Win, bad
from lineage.api.models import Backlog, Breaches, PostingLatency, Throughput
from lineage.auth.principal import CurrentScope
from lineage.business import metrics

router = APIRouter(prefix="/api/v1", tags=["metrics"])


@router.get("/metrics/posting-latency", response_model=PostingLatency)
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


@router.get("/metrics/throughput", response_model=Throughput)
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


@router.get("/metrics/exception-backlog", response_model=Backlog)
def exception_backlog(svc: Svc, scope: CurrentScope, window: MetricsWin, bucket_ms: BucketMs) -> Any:
    """Unresolved exceptions per time bucket and category, and the ages of those unresolved now (under 1 h,
    1-4 h, 4-24 h, over 24 h).
    """
    buckets = -(-(window.until_ms - window.since_ms) // bucket_ms)
    return metrics.exception_backlog(svc, scope, window, bucket_ms, buckets)


@router.get("/sla/breaches", response_model=Breaches)
def sla_breaches(svc: Svc, scope: CurrentScope, window: Win, flow: FlowDep, stage: str = "") -> Any:
    """SLA breaches of a flow in the window: stages completed late, stages open and overdue, and end-to-end
    breaches, most overdue first; optionally one stage. At most ``limit``; ``truncated`` when more.
    """
    if stage and stage != "end_to_end" and flow.stage_named(stage) is None:
        raise bad(f"flow {flow.name!r} has no stage {stage!r}")
    return svc.sla_breaches(scope, window, flow.name, stage)
