"""Turning a rule into samples: binds the kind's parameters to its SQL in alerts/queries.py."""

from __future__ import annotations

from typing import Any, TypedDict

from alerts import burnrate, queries
from alerts.close import close_samples
from alerts.model import Sample
from alerts.rules import (
    CloseExpr,
    ExceptionExpr,
    KpiExpr,
    PostingLatencyExpr,
    Rule,
    SilentSystemExpr,
    SlaBreachExpr,
    SloBurnExpr,
    StuckExpr,
    kpi_threshold,
)
from collector.store import Store
from lineage.business import kpis
from lineage.core import domain, open_txns
from lineage.core.flows import FlowConfig
from lineage.core.scope import EVERYTHING

_RESERVED = {"value", "examples"}


def _samples(names: list[str], rows: list[tuple[Any, ...]]) -> list[Sample]:
    """Rows to samples: every column but value/examples is a label."""
    if rows and "value" not in names:  # an empty result may come back without column names
        raise ValueError("the query returns no 'value' column")
    out = []
    for row in rows:
        rec = dict(zip(names, row, strict=True))
        labels = {k: "" if v is None else str(v) for k, v in rec.items() if k not in _RESERVED}
        examples = tuple(str(x) for x in rec.get("examples") or ())
        out.append(Sample(labels, float(rec["value"] or 0.0), examples))
    return out


def _pick_metric(names: list[str], rows: list[tuple[Any, ...]], metric: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Keep the exception metric the rule asks for, as ``value``."""
    if not rows:
        return names, rows
    drop = {"size", "growth", "oldest_age"}
    keep = [i for i, n in enumerate(names) if n not in drop or n == metric]
    return (["value" if names[i] == metric else names[i] for i in keep], [tuple(row[i] for i in keep) for row in rows])


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


# One round's shared results: (sql, params) -> (columns, rows), and ("assess", flow, window) ->
# the assessed transactions, so rules differing only in thresholds share one query.
Cache = dict[tuple[str, ...], Any]
_ROWS_CAP = 10_000  # rows one shared query may return before thresholds are applied
_FACTS_CAP = 500_000  # transactions an SLA or stuck rule assesses in one window


def _query(
    store: Store, sql: str, params: dict[str, Any], timeout_s: float, cache: Cache | None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run a query once per round: rules differing only in threshold share the result."""
    key = (sql, repr(sorted(params.items())))
    if cache is not None and key in cache:
        cached: tuple[list[str], list[tuple[Any, ...]]] = cache[key]
        return cached
    result = store.query_columns(sql, params, timeout_s=timeout_s)
    if cache is not None:
        cache[key] = result
    return result


def run_rule(
    store: Store, rule: Rule, now_ms: int, *, flows: FlowConfig, timeout_s: float, cache: Cache | None = None
) -> list[Sample]:
    """Evaluate ``rule`` at ``now_ms`` against the business definitions of ``flows``;
    StoreError and ValueError propagate (rule error)."""
    base: dict[str, Any] = {"now_ms": now_ms, "limit": _ROWS_CAP}
    p = rule.params
    threshold = 0.0 if isinstance(p, KpiExpr) else float(getattr(p, "threshold", 0.0))
    if isinstance(p, PostingLatencyExpr):
        sql = queries.POSTING_LATENCY[p.by]
        base |= _postings(flows, p.flow, now_ms - _ms(p.window), now_ms) | {"quantile": p.quantile}
    elif isinstance(p, ExceptionExpr):
        sql = queries.EXCEPTIONS[p.by]
        base |= domain.exception_params(flows, now_ms) | EVERYTHING.params()
        base |= {"since_ms": now_ms - _ms(p.lookback), "until_ms": now_ms, "growth_s": int(p.growth_window)}
    elif isinstance(p, SlaBreachExpr | StuckExpr):
        samples = _assessed(store, flows, p, now_ms, timeout_s, cache)
        return _check_limit(rule, [s for s in samples if s.value > threshold])
    elif isinstance(p, SilentSystemExpr):
        sql = queries.SILENT_SYSTEMS
        base |= {
            "names": list(p.systems),
            "periods_s": list(p.systems.values()),
            "period_s": p.period,
            "grace_s": p.grace,
            "exclude": p.exclude,
            "lookback_s": int(p.lookback),
        }
    elif isinstance(p, SloBurnExpr):
        return _slo_burn(store, flows, p, now_ms, timeout_s, cache)
    elif isinstance(p, KpiExpr):
        return _check_limit(rule, _kpi(store, flows, p, now_ms, timeout_s))
    elif isinstance(p, CloseExpr):
        return _check_limit(rule, close_samples(store, flows, p, now_ms))
    else:
        sql, base = rule.query or "", {"now_ms": now_ms}
    names, rows = _query(store, sql, base, timeout_s, cache)
    if isinstance(p, ExceptionExpr):
        names, rows = _pick_metric(names, rows, p.metric)
    return _check_limit(rule, [s for s in _samples(names, rows) if rule.kind == "query" or s.value > threshold])


def _check_limit(rule: Rule, samples: list[Sample]) -> list[Sample]:
    if len(samples) > rule.limit:
        raise ValueError(f"{len(samples)}+ results, over the rule's limit of {rule.limit}")
    return samples


def _postings(flows: FlowConfig, flow: str | None, since_ms: int, until_ms: int) -> dict[str, Any]:
    """Parameters of lineage's posting-latency CTE for ``flow``, over the whole store."""
    if flow is not None and flow not in flows.flows:
        raise ValueError(f"flow {flow!r} is not in the flows file")
    from_step, to_step = domain.posting_steps(flows, flow)
    return {"from_step": from_step, "to_step": to_step, "since_ms": since_ms, "until_ms": until_ms} | (
        EVERYTHING.params()
    )


class _Window(TypedDict):
    since_ms: int
    until_ms: int
    scan_until_ms: int
    now_ms: int


def _window(now_ms: int, span_ms: int) -> _Window:
    """A rule's window ending at its evaluation time, hops read up to then."""
    return {"since_ms": now_ms - span_ms, "until_ms": now_ms, "scan_until_ms": now_ms, "now_ms": now_ms}


def _assessed(
    store: Store,
    flows: FlowConfig,
    p: SlaBreachExpr | StuckExpr,
    now_ms: int,
    timeout_s: float,
    cache: Cache | None = None,
) -> list[Sample]:
    """SLA breaches per stage, or stuck transactions per waiting system, as lineage derives them
    for transactions started in the rule's window (examples: the earliest started)."""
    flow = p.flow
    if flow and flow not in flows.flows:
        raise ValueError(f"flow {flow!r} is not in the flows file")
    if isinstance(p, SlaBreachExpr):
        return _sla_breaches(store, flows, p, now_ms, timeout_s, cache)
    shared = ("assess", flow, str(_ms(p.lookback)), str(now_ms), "stuck")
    if cache is not None and shared in cache:
        assessed, truncated = cache[shared]
    else:
        # domain.assess(keep="stuck")'s answer, from the open-transactions index
        assessed, truncated = open_txns.assess_stuck(
            store,
            flows,
            EVERYTHING,
            **_window(now_ms, _ms(p.lookback)),
            max_rows=_FACTS_CAP,
            flow=flow,
            timeout_s=timeout_s,
        )
        if cache is not None:
            cache[shared] = (assessed, truncated)
    if truncated:
        raise ValueError(f"over {_FACTS_CAP} transactions in the window; shorten it")
    groups: dict[tuple[tuple[str, str], ...], list[tuple[int, str]]] = {}
    for a in domain.stuck(assessed, now_ms, _ms(p.older_than)):
        key = (("system", a.facts.last_system),)
        groups.setdefault(key, []).append((a.facts.last_ms, a.facts.correlation_id))
    return [
        Sample(dict(key), float(len(hits)), tuple(cid for _, cid in sorted(hits)[:5]))
        for key, hits in sorted(groups.items())
    ]


def _sla_breaches(
    store: Store, flows: FlowConfig, p: SlaBreachExpr, now_ms: int, timeout_s: float, cache: Cache | None
) -> list[Sample]:
    """Breached SLAs per stage of the flow's transactions started in the window, counted in SQL
    by the domain layer (``domain.breaches_by_stage``); rules of one flow and window share it."""
    names = {s.name for s in flows.flows[p.flow].stages} | {domain.END_TO_END}
    unknown = sorted(set(p.stages or ()) - names)
    if unknown:
        raise ValueError(f"flow {p.flow!r} has no stage {unknown[0]!r}")
    shared = ("breaches", p.flow, str(_ms(p.window)), str(now_ms))
    if cache is not None and shared in cache:
        by_stage = cache[shared]
    else:
        by_stage = domain.breaches_by_stage(
            store,
            flows,
            EVERYTHING,
            **_window(now_ms, _ms(p.window)),
            flow=p.flow,
            timeout_s=timeout_s,
        )
        if cache is not None:
            cache[shared] = by_stage
    return [
        Sample({"flow": p.flow, "stage": stage}, float(n), tuple(cid for _, cid in examples))
        for stage, (n, examples) in sorted(by_stage.items())
        if p.stages is None or stage in p.stages
    ]


def _slo_burn(
    store: Store, flows: FlowConfig, p: SloBurnExpr, now_ms: int, timeout_s: float, cache: Cache | None
) -> list[Sample]:
    """One sample when any window pair burns too fast; value = the long window's burn rate."""
    windows = p.burn_windows()
    lengths = sorted({int(w.long) for w in windows} | {int(w.short) for w in windows})
    params = {
        "now_ms": now_ms,
        "windows_s": lengths,
        "target_ms": _ms(p.latency_target),
    } | _postings(flows, p.flow, now_ms - max(lengths) * 1000, now_ms)
    rows = _query(store, queries.SLO_RATIOS, params, timeout_s, cache)[1]
    total, bad, examples = rows[0] if rows else ([], [], [])
    ratio = {
        float(w): (b / t if t else 0.0)
        for w, t, b in zip(lengths, total or [0] * len(lengths), bad or [0] * len(lengths), strict=True)
    }
    checks = [c for c in burnrate.evaluate(p.objective, p.period, windows, ratio) if c.firing]
    if not checks:
        return []
    worst = max(checks, key=lambda c: c.factor)
    budget = 1 - p.objective / 100
    return [Sample({}, round(worst.long_ratio / budget, 3), tuple(examples or ()))]


def _kpi(store: Store, flows: FlowConfig, p: KpiExpr, now_ms: int, timeout_s: float) -> list[Sample]:
    """A flows-file KPI through lineage's domain layer: its value per group over the window
    against the threshold, or the burn rate of its objective (value: the worst long window's)."""
    if p.flow not in flows.flows:
        raise ValueError(f"flow {p.flow!r} is not in the flows file")
    flow = flows.flows[p.flow]
    kpi = flow.kpi_named(p.kpi)
    if kpi is None:
        raise ValueError(f"flow {p.flow!r} has no KPI {p.kpi!r}")
    base = {"flow": p.flow, "kpi": p.kpi}

    def totals(window_s: float, group_by: str = "") -> list[kpis.Point]:
        return kpis.window_totals(
            store,
            flows,
            EVERYTHING,
            flow,
            kpi,
            since_ms=now_ms - _ms(window_s),
            until_ms=now_ms,
            group_by=group_by,
            quantile=p.quantile,
            timeout_s=timeout_s,
        )

    if p.mode == "threshold":
        by = "" if p.by == "none" else p.by
        points = totals(p.window, by)
        if not points and p.below and not by:
            points = [kpis.Point(now_ms - _ms(p.window), "", 0)]
        threshold = kpi_threshold(kpi.kind, p.threshold)
        out = []
        for point in points:
            value = kpis.value(kpi, point)
            if kpi.kind == "throughput":
                value = value * kpi.per_s / p.window
            if (value < threshold) if p.below else (value > threshold):
                out.append(Sample(base | ({by: point.group} if by else {}), round(value, 6)))
        return out
    objective = kpis.objective_percent(kpi)
    if objective is None:
        raise ValueError(f"KPI {p.kpi!r} has no objective to burn")
    windows = p.burn_windows()
    ratio = {}
    for length in sorted({w.long for w in windows} | {w.short for w in windows}):
        points = totals(length)
        count, bad = sum(x.count for x in points), sum(x.bad for x in points)
        ratio[float(length)] = bad / count if count else 0.0
    checks = [c for c in burnrate.evaluate(objective, p.period, windows, ratio) if c.firing]
    if not checks:
        return []
    worst = max(checks, key=lambda c: c.factor)
    return [Sample(base, round(worst.long_ratio / (1 - objective / 100), 3))]
