"""Routes of the flow-level business questions (issue 17): KPIs, waiting queues and
reconciliations. Thin: validate, call the domain modules (lineage/business/kpis.py, waiting.py,
reconcile.py), shape. Every route takes the caller's scope."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query

from lineage.api.context import MetricsCtx, PathFlowCtx, RecCtx
from lineage.api.deps import BucketMs, GroupBy, Svc, bad, bucket_ms
from lineage.business import kpis, metrics, reconcile, waiting
from lineage.business.models import Breaks, Drift, Kpis, ReconciliationList, Waiting
from lineage.core.flows import Flow, Kpi, Reconciliation
from lineage.core.shape import iso
from lineage.core.timeparse import to_ms, utcnow
from lineage.core.window import Window

BreakKind = Literal["left_only", "right_only", "amount_mismatch", "currency_mismatch"]
_WAITING_SYSTEM = "a waiting queue spans its stage's systems; it is not narrowed by one system"
_REC_NOT_APPLIED = {
    "flow": "a reconciliation names its own steps, whatever their flow",
    "system": "a reconciliation compares its own two systems",
}


def _flow_named(svc: Svc, name: str) -> Flow:
    if name not in svc.config.flows:
        raise HTTPException(404, f"no flow {name!r}; known: {', '.join(sorted(svc.config.flows))}")
    return svc.config.flows[name]


def _rec_named(svc: Svc, name: str) -> Reconciliation:
    if name not in svc.config.reconciliations:
        known = ", ".join(sorted(svc.config.reconciliations)) or "none"
        raise HTTPException(404, f"no reconciliation {name!r}; known: {known}")
    return svc.config.reconciliations[name]


def _rec_bucket(svc: Svc, window: Window, bucket: str) -> int:
    return bucket_ms(svc, window, bucket)


def _describe_kpi(flow: Flow, kpi: Kpi) -> dict[str, Any]:
    objective = None
    if kpi.objective_s is not None:
        objective = {"target_ms": int(kpi.objective_s * 1000), "percent": kpi.objective_percent}
    elif kpi.objective_rate is not None:
        objective = {"max_rate": kpi.objective_rate}
    latency = kpi.kind == "latency"
    return {
        "flow": flow.name,
        "name": kpi.name,
        "kind": kpi.kind,
        "description": kpi.description or None,
        "from_step": kpi.from_step if latency else None,
        "to_step": kpi.to_step if latency else None,
        "match": kpi.match if latency else None,
        "step": None if latency else kpi.step,
        "per_ms": int(kpi.per_s * 1000) if kpi.kind == "throughput" else None,
        "objective": objective,
    }


router = APIRouter(prefix="/api/v1", tags=["flows"])


@router.get(
    "/kpis",
    response_model=Kpis,
    description="Every KPI of a flow (latency p50/p95/p99, throughput, failure rate) per bucket and group, "
    "from the flows file's definitions; posting latency is one of them. Without ``flow``, every flow's; "
    "``system`` is the system of the measured hop (for latency: the to-step's).",
)
def list_kpis(
    svc: Svc,
    ctx: MetricsCtx,
    bucket_ms: BucketMs,
    kpi: Annotated[str | None, Query(description="one KPI by name")] = None,
    group_by: GroupBy | None = None,
) -> Any:
    window = ctx.window
    flows = [_flow_named(svc, ctx.flow)] if ctx.flow else list(svc.config.flows.values())
    asked = [(f, k) for f in flows for k in f.all_kpis() if not kpi or k.name == kpi]
    late = metrics.kpi_late(svc, ctx.scope, window, bucket_ms, group_by or "", ctx.system, asked)
    out = []
    for f, k in asked:
        points, truncated = kpis.series(
            svc.store,
            svc.config,
            ctx.scope,
            f,
            k,
            since_ms=window.since_ms,
            until_ms=window.until_ms,
            bucket_ms=bucket_ms,
            group_by=group_by or "",
            system=ctx.system,
            limit=window.limit,
        )
        marks = late[(f.name, k.name)]
        buckets = [kpis.shape_point(k, p, bucket_ms) | {"late": marks.get((p.bucket_ms, p.group), 0)} for p in points]
        out.append(_describe_kpi(f, k) | {"buckets": buckets, "truncated": truncated})
    if kpi and not out:
        raise HTTPException(404, f"no KPI {kpi!r}" + (f" in flow {ctx.flow!r}" if ctx.flow else ""))
    return {
        "since": iso(window.since_ms),
        "until": iso(window.until_ms),
        "bucket_ms": bucket_ms,
        "group_by": group_by,
        "kpis": out,
        "context": ctx.echo(),
    }


@router.get(
    "/flows/{flow}/waiting",
    response_model=Waiting,
    description="Per stage, the transactions that completed the previous stage (in the window) and not this "
    "one: count, amount per currency, oldest age and the bounded list behind it.",
)
def flow_waiting(svc: Svc, ctx: PathFlowCtx, flow: str, stage: str = "") -> Any:
    f = _flow_named(svc, flow)
    if stage and (f.stage_named(stage) is None or f.stages[0].name == stage):
        raise bad(f"flow {flow!r} has no waiting stage {stage!r} (the first stage waits on nothing)")
    doc = waiting.waiting(
        svc.store,
        svc.config,
        ctx.scope,
        f,
        since_ms=ctx.window.since_ms,
        until_ms=ctx.window.until_ms,
        now_ms=to_ms(utcnow()),
        limit=ctx.window.limit,
        stage=stage,
    )
    return doc | {"context": ctx.echo(flow=f.name, not_applied={"system": _WAITING_SYSTEM})}


@router.get(
    "/reconciliations",
    response_model=ReconciliationList,
    description="The reconciliations the flows file declares (two steps in two systems, how they match).",
)
def list_reconciliations(svc: Svc) -> Any:
    return {"reconciliations": [reconcile.describe(r) for r in svc.config.reconciliations.values()]}


@router.get(
    "/reconciliations/{name}",
    response_model=Drift,
    description="Drift per bucket, legal entity and currency: both sides' counts and amounts, matched, "
    "compensated and each kind of break with totals.",
)
def reconciliation(
    svc: Svc,
    ctx: RecCtx,
    name: str,
    bucket: Annotated[str, Query(description="e.g. 1d, 1h")] = "1d",
    group_by: Annotated[Literal["legal_entity", "none"], Query(description="none: one row per currency")] = (
        "legal_entity"
    ),
) -> Any:
    rec = _rec_named(svc, name)
    doc = reconcile.summary(
        svc.store,
        svc.config,
        ctx.scope,
        rec,
        since_ms=ctx.window.since_ms,
        until_ms=ctx.window.until_ms,
        bucket_ms=_rec_bucket(svc, ctx.window, bucket),
        by_legal_entity=group_by == "legal_entity",
        limit=ctx.window.limit,
    )
    return doc | {"context": ctx.echo(not_applied=_REC_NOT_APPLIED)}


@router.get(
    "/reconciliations/{name}/breaks",
    response_model=Breaks,
    description="The breaks of a reconciliation with their correlation IDs (bounded, with truncated).",
)
def reconciliation_breaks(svc: Svc, ctx: RecCtx, name: str, kind: BreakKind | None = None) -> Any:
    rec = _rec_named(svc, name)
    doc = reconcile.breaks(
        svc.store,
        svc.config,
        ctx.scope,
        rec,
        since_ms=ctx.window.since_ms,
        until_ms=ctx.window.until_ms,
        kind=kind or "",
        limit=min(ctx.window.limit, 1000),
    )
    return doc | {"context": ctx.echo(not_applied=_REC_NOT_APPLIED)}
