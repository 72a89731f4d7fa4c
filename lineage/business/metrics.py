"""Aggregate metrics: posting latency, throughput and exception backlog, all in SQL, over the
hops of the caller's scope (every function takes it, without a default)."""

from __future__ import annotations

from typing import Any

from lineage.business import kpis
from lineage.core import domain
from lineage.core.flows import Flow, Kpi
from lineage.core.scope import Scope
from lineage.core.service import Lineage
from lineage.core.shape import iso
from lineage.core.timeparse import parse_seconds, to_ms, utcnow
from lineage.core.window import Window
from lineage.sql import exceptions, queries

LateKey = tuple[int, str, str]  # bucket start ms, stage name ('' for none), group ('' for none)


def late_grace_ms(svc: Lineage) -> int:
    """How long after a bucket ends its hops may still be stored without the bucket counting as
    changed late: ``LEDGERLINE_BUSINESS_METRICS_LAG``, the lag after which GET /metrics/business
    counts an interval as closed (the one definition of "late" here)."""
    return int(parse_seconds(svc.settings.business_metrics_lag) * 1000)


def _late_params(
    svc: Lineage, scope: Scope, window: Window, bucket_ms: int, group_by: str, system: str
) -> dict[str, Any]:
    """What every late-count query binds: the window's buckets, the grouping, the grace, scope."""
    return {
        **window.bucket_params(bucket_ms),
        "default_flow": svc.config.default_flow,
        "group_by": group_by,
        "system": system,
        "grace_ms": late_grace_ms(svc),
        **scope.params(),
    }


def late(
    svc: Lineage,
    scope: Scope,
    window: Window,
    bucket_ms: int,
    group_by: str,
    system: str,
    *,
    steps: list[str],
    stages: dict[str, str] | None = None,
    flow: str = "",
) -> dict[LateKey, int]:
    """Per bucket (and stage and group) how many of a series' entity-steps were first stored more than
    :func:`late_grace_ms` after the bucket ended: late postings that changed a closed bucket.
    ``stages`` maps ``entity_type|step`` to a stage name (only those pairs count); none: every hop
    of ``steps``."""
    stages = stages or {}
    rows = svc.store.query_dicts(
        queries.LATE_HOPS,
        _late_params(svc, scope, window, bucket_ms, group_by, system)
        | {
            "steps": steps,
            "keys": list(stages),
            "names": list(stages.values()),
            "flow": flow,
            "limit": svc.settings.max_buckets * 100,
        },
    )
    return {(int(r["bucket_ms"]), str(r["stage"]), str(r["grp"])): int(r["late"]) for r in rows}


def kpi_late(
    svc: Lineage,
    scope: Scope,
    window: Window,
    bucket_ms: int,
    group_by: str,
    system: str,
    kpis_of: list[tuple[Flow, Kpi]],
) -> dict[tuple[str, str], dict[tuple[int, str], int]]:
    """Per KPI (flow, name) and bucket and group, how many of its measured step's entity-steps were
    first stored more than :func:`late_grace_ms` after the bucket ended (successes for latency and
    throughput, any attempt for the failure rate): one query for every KPI asked."""
    if not kpis_of:
        return {}
    rows = svc.store.query_dicts(
        queries.LATE_KPI_HOPS,
        _late_params(svc, scope, window, bucket_ms, group_by, system)
        | {"steps": sorted({kpis.measured_step(k) for _, k in kpis_of}), "limit": svc.settings.max_buckets * 1000},
    )
    out: dict[tuple[str, str], dict[tuple[int, str], int]] = {}
    for flow, kpi in kpis_of:
        step, only = kpis.measured_step(kpi), kpis.flow_filter(flow, kpi)
        column = "late_any" if kpi.kind == "failure_rate" else "late_ok"
        marks = out.setdefault((flow.name, kpi.name), {})
        for r in rows:
            if r["step"] == step and (not only or r["flow"] == only) and r[column]:
                key = (int(r["bucket_ms"]), str(r["grp"]))
                marks[key] = marks.get(key, 0) + int(r[column])
    return out


def posting_latency(
    svc: Lineage, scope: Scope, flow: Flow, window: Window, bucket_ms: int, group_by: str, system: str = ""
) -> dict[str, Any]:
    """Count and p50/p95/p99 of posting latency per bucket and group: the flow's
    ``posting_latency`` KPI (lineage/business/kpis.py)."""
    kpi = flow.all_kpis()[0]
    points, truncated = kpis.series(
        svc.store,
        svc.config,
        scope,
        flow,
        kpi,
        since_ms=window.since_ms,
        until_ms=window.until_ms,
        bucket_ms=bucket_ms,
        group_by=group_by,
        system=system,
        limit=window.limit,
    )
    stored_late = late(svc, scope, window, bucket_ms, group_by, system, steps=[flow.latency_to])
    return {
        "flow": flow.name,
        "from_step": flow.latency_from,
        "to_step": flow.latency_to,
        "bucket_ms": bucket_ms,
        "group_by": group_by or None,
        "buckets": [
            {
                "bucket": iso(p.bucket_ms),
                "group": p.group or None,
                "count": p.count,
                "p50_ms": p.quantiles[0] if p.quantiles else 0.0,
                "p95_ms": p.quantiles[1] if p.quantiles else 0.0,
                "p99_ms": p.quantiles[2] if p.quantiles else 0.0,
                "late": stored_late.get((p.bucket_ms, "", p.group), 0),
            }
            for p in points
        ],
        "truncated": truncated,
    }


def throughput(
    svc: Lineage, scope: Scope, flow: Flow, window: Window, bucket_ms: int, group_by: str, system: str = ""
) -> dict[str, Any]:
    """Stages completed per bucket (one per entity and step, retries not counted)."""
    page = svc.store.query_bounded(
        queries.THROUGHPUT,
        {
            **window.bucket_params(bucket_ms),
            "keys": [f"{s.entity_type}|{s.step}" for s in flow.stages],
            "names": [s.name for s in flow.stages],
            "flow": flow.name,
            "default_flow": svc.config.default_flow,
            "steps": sorted({s.step for s in flow.stages}),
            "group_by": group_by,
            "system": system,
            **scope.params(),
        },
        window.limit,
    )
    stages = {f"{s.entity_type}|{s.step}": s.name for s in flow.stages}
    stored_late = late(
        svc, scope, window, bucket_ms, group_by, system, steps=sorted({s.step for s in flow.stages}),
        stages=stages, flow=flow.name,
    )  # fmt: skip
    return {
        "flow": flow.name,
        "bucket_ms": bucket_ms,
        "group_by": group_by or None,
        "buckets": [
            {
                "bucket": iso(r["bucket_ms"]),
                "stage": r["stage"],
                "group": r["grp"] or None,
                "completed": int(r["n"]),
                "late": stored_late.get((int(r["bucket_ms"]), str(r["stage"]), str(r["grp"])), 0),
            }
            for r in page.rows
        ],
        "truncated": page.truncated,
    }


def exception_backlog(
    svc: Lineage, scope: Scope, window: Window, bucket_ms: int, buckets: int, system: str = ""
) -> dict[str, Any]:
    """Unresolved exceptions per bucket and category, and the age of those unresolved now.

    One query: per category, ClickHouse returns the open count of every bucket as an array
    (a running sum of open/close events) and the age buckets; here they are only laid out.
    """
    now_ms = to_ms(utcnow())
    rows = svc.store.query_dicts(
        exceptions.EXCEPTION_BACKLOG,
        {
            **window.bucket_params(bucket_ms),
            "buckets": buckets,
            "now_ms": now_ms,
            "system": system,
            **domain.exception_params(svc.config, now_ms),
            **scope.params(),
        },
    )
    series = [
        {"bucket": iso(window.since_ms + i * bucket_ms), "category": r["category"] or None, "open": int(n)}
        for r in rows
        for i, n in enumerate(r["opens"])
        if n > 0
    ]
    series.sort(key=lambda p: (p["bucket"], p["category"] or ""))
    return {
        "bucket_ms": bucket_ms,
        "series": series,
        "age_now": [
            {
                "category": r["category"] or None,
                "lt_1h": int(r["lt_1h"]),
                "h1_to_4h": int(r["h1_4"]),
                "h4_to_24h": int(r["h4_24"]),
                "gt_24h": int(r["gt_24h"]),
            }
            for r in rows
            if r["lt_1h"] + r["h1_4"] + r["h4_24"] + r["gt_24h"]
        ],
    }
