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


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def run_rule(store: Store, rule: Rule, now_ms: int, *, actions_table: bool, timeout_s: float) -> list[Sample]:
    """Evaluate ``rule`` at ``now_ms``; StoreError and ValueError propagate (rule error)."""
    base: dict[str, Any] = {"now_ms": now_ms, "limit": rule.limit + 1}
    p = rule.params
    if isinstance(p, PostingLatencyExpr):
        sql = queries.POSTING_LATENCY[p.by]
        base |= {"quantile": p.quantile, "window_s": int(p.window), "threshold_ms": _ms(p.threshold),
                 "from_step": p.from_step, "to_step": p.to_step}
    elif isinstance(p, ExceptionExpr):
        sql = queries.EXCEPTIONS[(p.by, actions_table)]
        base |= {"metric": p.metric, "threshold": p.threshold, "lookback_s": int(p.lookback),
                 "growth_s": int(p.growth_window)}
    elif isinstance(p, SlaBreachExpr):
        sql = queries.SLA_BREACHES
        base |= {"flow": p.flow, "window_s": int(p.window), "threshold": p.threshold,
                 "names": [s.name for s in p.stages], "steps": [s.step for s in p.stages],
                 "parent_steps": [s.parent_step for s in p.stages], "slas_ms": [_ms(s.sla) for s in p.stages]}
    elif isinstance(p, StuckExpr):
        sql = queries.STUCK
        base |= {"final_step": p.final_step, "lookback_s": int(p.lookback), "older_than_s": int(p.older_than),
                 "threshold": p.threshold}
    elif isinstance(p, SilentSystemExpr):
        sql = queries.SILENT_SYSTEMS
        base |= {"names": list(p.systems), "periods_s": list(p.systems.values()), "period_s": p.period,
                 "grace_s": p.grace, "exclude": p.exclude, "lookback_s": int(p.lookback)}
    elif isinstance(p, SloBurnExpr):
        return _slo_burn(store, p, now_ms, timeout_s)
    else:
        sql, base = rule.query or "", {"now_ms": now_ms}
    names, rows = store.query_columns(sql, base, timeout_s=timeout_s)
    samples = _samples(names, rows)
    if len(samples) > rule.limit:
        raise ValueError(f"{len(samples)}+ results, over the rule's limit of {rule.limit}")
    return samples


def _slo_burn(store: Store, p: SloBurnExpr, now_ms: int, timeout_s: float) -> list[Sample]:
    """One sample when any window pair burns too fast; value = the long window's burn rate."""
    windows = p.burn_windows()
    lengths = sorted({int(w.long) for w in windows} | {int(w.short) for w in windows})
    params = {"now_ms": now_ms, "window_s": max(lengths), "windows_s": lengths, "target_ms": _ms(p.latency_target),
              "from_step": p.from_step, "to_step": p.to_step}
    rows = store.query(queries.SLO_RATIOS, params, timeout_s=timeout_s)
    total, bad, examples = rows[0] if rows else ([], [], [])
    ratio = {float(w): (b / t if t else 0.0) for w, t, b in zip(lengths, total or [0] * len(lengths),
                                                                  bad or [0] * len(lengths), strict=True)}
    checks = [c for c in burnrate.evaluate(p.objective, p.period, windows, ratio) if c.firing]
    if not checks:
        return []
    worst = max(checks, key=lambda c: c.factor)
    budget = 1 - p.objective / 100
    return [Sample({}, round(worst.long_ratio / budget, 3), tuple(examples or ()))]
