"""Turning a rule into samples: binds the kind's parameters to its SQL in alerts/queries.py."""

from __future__ import annotations

from typing import Any

from alerts import burnrate, queries
from alerts.model import Sample
from alerts.rules import (
    ExceptionExpr,
    PostingLatencyExpr,
    Rule,
    SilentSystemExpr,
    SlaBreachExpr,
    SloBurnExpr,
    StuckExpr,
)
from collector.store import Store

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


Cache = dict[tuple[str, str], tuple[list[str], list[tuple[Any, ...]]]]
_ROWS_CAP = 10_000  # rows one shared query may return before thresholds are applied


def _query(
    store: Store, sql: str, params: dict[str, Any], timeout_s: float, cache: Cache | None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run a query once per round: rules differing only in threshold share the result."""
    key = (sql, repr(sorted(params.items())))
    if cache is not None and key in cache:
        return cache[key]
    result = store.query_columns(sql, params, timeout_s=timeout_s)
    if cache is not None:
        cache[key] = result
    return result


def run_rule(
    store: Store, rule: Rule, now_ms: int, *, actions_table: bool, timeout_s: float, cache: Cache | None = None
) -> list[Sample]:
    """Evaluate ``rule`` at ``now_ms``; StoreError and ValueError propagate (rule error)."""
    base: dict[str, Any] = {"now_ms": now_ms, "limit": _ROWS_CAP}
    p = rule.params
    threshold = float(getattr(p, "threshold", 0.0))
    if isinstance(p, PostingLatencyExpr):
        sql = queries.POSTING_LATENCY[p.by]
        base |= {"quantile": p.quantile, "window_s": int(p.window), "from_step": p.from_step, "to_step": p.to_step}
    elif isinstance(p, ExceptionExpr):
        sql = queries.EXCEPTIONS[(p.by, actions_table)]
        base |= {"lookback_s": int(p.lookback), "growth_s": int(p.growth_window)}
    elif isinstance(p, SlaBreachExpr):
        sql = queries.SLA_BREACHES
        base |= {
            "flow": p.flow,
            "window_s": int(p.window),
            "names": [s.name for s in p.stages],
            "steps": [s.step for s in p.stages],
            "parent_steps": [s.parent_step for s in p.stages],
            "slas_ms": [_ms(s.sla) for s in p.stages],
        }
    elif isinstance(p, StuckExpr):
        sql = queries.STUCK
        base |= {"final_step": p.final_step, "lookback_s": int(p.lookback), "older_than_s": int(p.older_than)}
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
        return _slo_burn(store, p, now_ms, timeout_s, cache)
    else:
        sql, base = rule.query or "", {"now_ms": now_ms}
    names, rows = _query(store, sql, base, timeout_s, cache)
    if isinstance(p, ExceptionExpr):
        names, rows = _pick_metric(names, rows, p.metric)
    samples = [s for s in _samples(names, rows) if rule.kind == "query" or s.value > threshold]
    if len(samples) > rule.limit:
        raise ValueError(f"{len(samples)}+ results, over the rule's limit of {rule.limit}")
    return samples


def _slo_burn(store: Store, p: SloBurnExpr, now_ms: int, timeout_s: float, cache: Cache | None) -> list[Sample]:
    """One sample when any window pair burns too fast; value = the long window's burn rate."""
    windows = p.burn_windows()
    lengths = sorted({int(w.long) for w in windows} | {int(w.short) for w in windows})
    params = {
        "now_ms": now_ms,
        "window_s": max(lengths),
        "windows_s": lengths,
        "target_ms": _ms(p.latency_target),
        "from_step": p.from_step,
        "to_step": p.to_step,
    }
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
