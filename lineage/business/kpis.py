"""Domain: a flow's KPIs, the one definition the KPI API, the posting-latency route and the
``kpi`` alert rules share.

A KPI is declared in the flows file (lineage/core/flows.py ``Kpi``), so a new KPI needs no code:

- ``latency``: per bucket, the count and p50/p95/p99 (plus one quantile the caller asks
  for) of the time from the ``from`` hop to the ``to`` hop, and how many exceed the
  objective's target (``bad``). ``posting_latency`` is one: lineage's posting-latency CTE,
  over every issuing hop of its step (as its route always measured); the other latency KPIs
  count only issuing hops of their flow.
- ``throughput``: distinct entities completing the step ok, and that count as a rate per
  the KPI's ``per``.
- ``failure_rate``: failed attempts of the step over all its attempts (``bad``/``count``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collector.store import Store
from lineage.business import queries as q
from lineage.core.flows import Flow, FlowConfig, Kpi
from lineage.core.flows_file import POSTING_LATENCY
from lineage.core.scope import Scope
from lineage.core.shape import iso

NO_TARGET_MS = 2**62  # a latency KPI without an objective has no "bad" measurements


@dataclass(frozen=True)
class Point:
    """One bucket (and group) of a KPI; ``quantiles`` for latency (p50, p95, p99, asked)."""

    bucket_ms: int
    group: str
    count: int
    bad: int = 0
    quantiles: tuple[float, float, float, float] | None = None


def objective_percent(kpi: Kpi) -> float | None:
    """The share of good measurements the KPI's objective asks for, in percent (None: no objective)."""
    if kpi.kind == "latency" and kpi.objective_percent is not None:
        return kpi.objective_percent
    if kpi.kind == "failure_rate" and kpi.objective_rate is not None:
        return 100.0 * (1.0 - kpi.objective_rate)
    return None


def flow_filter(flow: Flow, kpi: Kpi) -> str:
    """The flow a KPI's hops must belong to ('' for any): posting_latency keeps its historical
    definition, every issuing hop of its step."""
    return "" if kpi.name == POSTING_LATENCY and kpi.kind == "latency" else flow.name


def measured_step(kpi: Kpi) -> str:
    """The step whose hops a KPI's bucket is placed by (for latency, the to-step's end)."""
    return kpi.to_step if kpi.kind == "latency" else kpi.step


def _sql_and_params(config: FlowConfig, flow: Flow, kpi: Kpi) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"flow": flow_filter(flow, kpi), "default_flow": config.default_flow}
    if kpi.kind == "latency":
        target = NO_TARGET_MS if kpi.objective_s is None else int(kpi.objective_s * 1000)
        params |= {"from_step": kpi.from_step, "to_step": kpi.to_step, "target_ms": target}
        return q.KPI_LATENCY[kpi.match], params
    params["step"] = kpi.step
    return (q.KPI_THROUGHPUT if kpi.kind == "throughput" else q.KPI_FAILURE_RATE), params


def series(
    store: Store,
    config: FlowConfig,
    scope: Scope,
    flow: Flow,
    kpi: Kpi,
    *,
    since_ms: int,
    until_ms: int,
    bucket_ms: int,
    group_by: str = "",
    system: str = "",
    limit: int = 5000,
    origin_ms: int = 0,
    quantile: float = 0.95,
    timeout_s: float | None = None,
) -> tuple[list[Point], bool]:
    """The KPI per bucket and group over [since, until); the flag says more than ``limit`` rows."""
    sql, params = _sql_and_params(config, flow, kpi)
    params |= {
        "since_ms": since_ms,
        "until_ms": until_ms,
        "bucket_ms": bucket_ms,
        "origin_ms": origin_ms,
        "group_by": group_by,
        "system": system,
        "quantile": quantile,
    }
    page = store.query_bounded(sql, params | scope.params(), limit, timeout_s=timeout_s)
    points = [
        Point(
            int(r["bucket_ms"]),
            str(r["grp"]),
            int(r["n"]),
            int(r.get("bad") or 0),
            tuple(float(x) for x in r["q"]) if "q" in r else None,  # type: ignore[arg-type]
        )
        for r in page.rows
    ]
    return points, page.truncated


def window_totals(
    store: Store,
    config: FlowConfig,
    scope: Scope,
    flow: Flow,
    kpi: Kpi,
    *,
    since_ms: int,
    until_ms: int,
    group_by: str = "",
    quantile: float = 0.95,
    timeout_s: float | None = None,
) -> list[Point]:
    """The KPI over the whole window, one point per group (for alert rules)."""
    points, truncated = series(
        store,
        config,
        scope,
        flow,
        kpi,
        since_ms=since_ms,
        until_ms=until_ms,
        bucket_ms=max(1, until_ms - since_ms),
        origin_ms=since_ms,
        group_by=group_by,
        quantile=quantile,
        limit=10_000,
        timeout_s=timeout_s,
    )
    if truncated:
        raise ValueError("over 10000 groups in one KPI window")
    return points


def value(kpi: Kpi, point: Point, quantile_index: int = 3) -> float:
    """The KPI's headline value of one point: a latency quantile (ms), a rate per ``per``
    (throughput; the point's bucket is the caller's window), or a failure ratio."""
    if kpi.kind == "latency":
        return point.quantiles[quantile_index] if point.quantiles else 0.0
    if kpi.kind == "failure_rate":
        return point.bad / point.count if point.count else 0.0
    return float(point.count)


def shape_point(kpi: Kpi, point: Point, bucket_ms: int) -> dict[str, Any]:
    """One bucket of the KPI API: count, quantiles or rate, and the objective's share."""
    out: dict[str, Any] = {"bucket": iso(point.bucket_ms), "group": point.group or None, "count": point.count}
    if kpi.kind == "latency" and point.quantiles:
        out |= {"p50_ms": point.quantiles[0], "p95_ms": point.quantiles[1], "p99_ms": point.quantiles[2]}
        if kpi.objective_s is not None:
            out["over_target"] = point.bad
            out["within_objective"] = (point.count - point.bad) / point.count * 100 >= (kpi.objective_percent or 0)
    elif kpi.kind == "throughput":
        out["rate"] = point.count * kpi.per_s * 1000 / bucket_ms
    else:
        out |= {"failed": point.bad, "rate": point.bad / point.count if point.count else 0.0}
        if kpi.objective_rate is not None:
            out["within_objective"] = out["rate"] <= kpi.objective_rate
    return out
