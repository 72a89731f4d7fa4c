"""Routes of the flow-level business questions (issue 17): KPIs, waiting queues and
reconciliations. Thin: validate, call the domain modules (lineage/business/kpis.py, waiting.py,
reconcile.py), shape. Every route takes the caller's scope."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query

from lineage.api.deps import BucketMs, GroupBy, MetricsWin, RecWin, Svc, Win, bad, bucket_ms
from lineage.auth.principal import CurrentScope
from lineage.business import kpis, reconcile, waiting
from lineage.business.models import Breaks, Drift, Kpis, ReconciliationList, Waiting
from lineage.core.flows import Flow, Kpi, Reconciliation
from lineage.core.service import Window
from lineage.core.shape import iso
from lineage.core.timeparse import to_ms, utcnow

BreakKind = Literal["left_only", "right_only", "amount_mismatch", "currency_mismatch"]


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
    "from the flows file's definitions; posting latency is one of them.",
)
def list_kpis(
    svc: Svc,
    scope: CurrentScope,
    window: MetricsWin,
    bucket_ms: BucketMs,
    flow: Annotated[str | None, Query(description="one flow; default: every flow")] = None,
    kpi: Annotated[str | None, Query(description="one KPI by name")] = None,
    group_by: GroupBy | None = None,
) -> Any:
    flows = [_flow_named(svc, flow)] if flow else list(svc.config.flows.values())
    out = []
    for f in flows:
        for k in f.all_kpis():
            if kpi and k.name != kpi:
                continue
            points, truncated = kpis.series(
                svc.store,
                svc.config,
                scope,
                f,
                k,
                since_ms=window.since_ms,
                until_ms=window.until_ms,
                bucket_ms=bucket_ms,
                group_by=group_by or "",
                limit=window.limit,
            )
            buckets = [kpis.shape_point(k, p, bucket_ms) for p in points]
            out.append(_describe_kpi(f, k) | {"buckets": buckets, "truncated": truncated})
    if kpi and not out:
        raise HTTPException(404, f"no KPI {kpi!r}" + (f" in flow {flow!r}" if flow else ""))
    return {
        "since": iso(window.since_ms),
        "until": iso(window.until_ms),
        "bucket_ms": bucket_ms,
        "group_by": group_by,
        "kpis": out,
    }


@router.get(
    "/flows/{flow}/waiting",
    response_model=Waiting,
    description="Per stage, the transactions that completed the previous stage and not this one: count, "
    "amount per currency, oldest age and the bounded list behind it.",
)
def flow_waiting(svc: Svc, scope: CurrentScope, window: Win, flow: str, stage: str = "") -> Any:
    f = _flow_named(svc, flow)
    if stage and (f.stage_named(stage) is None or f.stages[0].name == stage):
        raise bad(f"flow {flow!r} has no waiting stage {stage!r} (the first stage waits on nothing)")
    return waiting.waiting(
        svc.store,
        svc.config,
        scope,
        f,
        since_ms=window.since_ms,
        until_ms=window.until_ms,
        now_ms=to_ms(utcnow()),
        limit=window.limit,
        stage=stage,
    )


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
    scope: CurrentScope,
    window: RecWin,
    name: str,
    bucket: Annotated[str, Query(description="e.g. 1d, 1h")] = "1d",
    group_by: Annotated[Literal["legal_entity", "none"], Query(description="none: one row per currency")] = (
        "legal_entity"
    ),
) -> Any:
    rec = _rec_named(svc, name)
    return reconcile.summary(
        svc.store,
        svc.config,
        scope,
        rec,
        since_ms=window.since_ms,
        until_ms=window.until_ms,
        bucket_ms=_rec_bucket(svc, window, bucket),
        by_legal_entity=group_by == "legal_entity",
        limit=window.limit,
    )


@router.get(
    "/reconciliations/{name}/breaks",
    response_model=Breaks,
    description="The breaks of a reconciliation with their correlation IDs (bounded, with truncated).",
)
def reconciliation_breaks(
    svc: Svc,
    scope: CurrentScope,
    window: RecWin,
    name: str,
    kind: BreakKind | None = None,
) -> Any:
    rec = _rec_named(svc, name)
    return reconcile.breaks(
        svc.store,
        svc.config,
        scope,
        rec,
        since_ms=window.since_ms,
        until_ms=window.until_ms,
        kind=kind or "",
        limit=min(window.limit, 1000),
    )
