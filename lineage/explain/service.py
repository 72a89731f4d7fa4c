"""``GET /api/v1/explain``: what the failed, slow, stuck or breached units have in common, in
business terms, ranked by money, and when it started.

Units: for ``failed`` and ``slow``, entity-steps (an entity at one step, over its attempts: an
exception is one); for ``stuck`` and ``breached``, transactions (the lists of
``GET /api/v1/transactions?status=stuck`` and ``GET /api/v1/sla/breaches`` of the same context).
The selection is the subject's units in the window; the baseline either the window's other units
(``rest``) or the subject's units in the previous window of equal length (``previous``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import combinations
from typing import Any
from urllib.parse import urlencode

import numpy as np

from lineage.core.currency import round_money
from lineage.core.scope import Scope
from lineage.core.service import Lineage
from lineage.core.shape import iso
from lineage.core.window import Window
from lineage.explain import grid, stats
from lineage.explain import queries as q
from lineage.explain.errors import ExplainError

SUBJECTS = ("failed", "slow", "stuck", "breached")
BASELINES = tuple(q.BASELINES)
MAX_VALUES = 50  # a dimension with more values in the scan is not a candidate (unbounded)
MAX_SELECTION = 5000  # transactions listed for stuck/breached (more: truncated)
MAX_CELLS = 100_000  # grid rows: (dimension, value) x (bucket or currency); more: truncated
TOP_FOR_PAIRS = 6
BUCKETS = 24


@dataclass(frozen=True)
class Question:
    """What to explain, over which context."""

    subject: str
    baseline: str
    flow: str
    stage: str
    system: str
    window: Window


def _money(held: Mapping[str | None, Decimal]) -> list[dict[str, Any]]:
    """Money per currency, largest first, in each currency's minor units."""
    rows = [{"currency": c or None, "amount": round_money(float(a), c)} for c, a in held.items()]
    return sorted(rows, key=lambda r: (-r["amount"], r["currency"] or ""))


def _steps(svc: Lineage, flow: str, stage: str) -> list[str]:
    if not stage:
        return []
    found = next((s for s in svc.config.flow(flow).stages if s.name == stage or s.step == stage), None)
    if found is None:
        names = ", ".join(s.name for s in svc.config.flow(flow).stages)
        raise ExplainError(f"unknown stage {stage!r} of flow {flow!r}; known: {names}")
    return [found.step]


def _listed(svc: Lineage, scope: Scope, question: Question, since_ms: int, until_ms: int) -> tuple[list[str], bool]:
    window = Window(since_ms, until_ms, MAX_SELECTION)
    if question.subject == "stuck":
        doc = svc.transactions(scope, window, "stuck", question.flow, question.system, "")
        return [t["correlation_id"] for t in doc["transactions"]], bool(doc["truncated"])
    doc = svc.sla_breaches(scope, window, question.flow, question.stage, question.system)
    return sorted({b["correlation_id"] for b in doc["breaches"]}), bool(doc["truncated"])


def _params(svc: Lineage, scope: Scope, question: Question) -> tuple[dict[str, Any], str, str, bool]:
    """The bound parameters, the kind of unit, the subject's SQL name and whether the listed
    selection was truncated."""
    since, until = question.window.since_ms, question.window.until_ms
    lo = since - (until - since) if question.baseline == "previous" else since
    params: dict[str, Any] = {
        "lo_ms": lo,
        "cur_ms": since,
        "hi_ms": until,
        "lookahead_ms": 0,
        "flow": question.flow,
        "default_flow": svc.config.default_flow,
        "system": question.system,
        "steps": _steps(svc, question.flow, question.stage),
        "max_values": MAX_VALUES,
        "limit": MAX_CELLS,
        "ids": [],
        "t_steps": [],
        "t_p90s": [],
        **scope.params(),
    }
    if question.subject in ("failed", "slow"):
        if question.subject == "slow":
            rows = svc.store.query_dicts(q.THRESHOLDS, params)
            params["t_steps"] = [str(r["step"]) for r in rows]
            params["t_p90s"] = [float(r["p90"]) for r in rows]
        return params, "entity_steps", "failed" if question.subject == "failed" else "slow", False
    ids, truncated = _listed(svc, scope, question, since, until)
    if question.baseline == "previous":
        before, more = _listed(svc, scope, question, lo, since)
        ids, truncated = ids + before, truncated or more
    params["ids"] = ids
    return params, "transactions", "listed", truncated


def _link(question: Question, dimension: str, value: str) -> dict[str, Any]:
    """The list behind a finding: the subject's list with the context, narrowed by the
    finding's dimension where that list can take it (``exact``)."""
    base = {
        "since": iso(question.window.since_ms),
        "until": iso(question.window.until_ms),
        "flow": question.flow,
    }
    filters = {"system": "system", "region": "region", "legal_entity": "legal_entity"}
    path = {
        "failed": "/api/v1/exceptions",
        "slow": "/api/v1/transactions",
        "stuck": "/api/v1/transactions",
        "breached": "/api/v1/sla/breaches",
    }[question.subject]
    if question.subject == "stuck":
        base["status"] = "stuck"
    if question.subject == "failed" and dimension == "error_category":
        base["category"] = value
    elif dimension in filters:
        base[filters[dimension]] = value
    exact = dimension in filters or (question.subject == "failed" and dimension == "error_category")
    return {"url": f"{path}?{urlencode({k: v for k, v in base.items() if v})}", "exact": exact}


def _rank_key(money: list[dict[str, Any]], main: str | None, count: int) -> tuple[float, int]:
    in_main = next((m["amount"] for m in money if m["currency"] == main), 0.0)
    return (-in_main, -count)


def explain(svc: Lineage, scope: Scope, question: Question) -> dict[str, Any]:
    """The answer: totals, findings, pairs that explain more, and the change point."""
    if question.subject not in SUBJECTS:
        raise ExplainError(f"unknown subject {question.subject!r}; known: {', '.join(SUBJECTS)}")
    if question.baseline not in BASELINES:
        raise ExplainError(f"unknown baseline {question.baseline!r}; known: {', '.join(BASELINES)}")
    params, kind, subject, truncated = _params(svc, scope, question)
    span = question.window.until_ms - question.window.since_ms
    bucket_ms = max(60_000, span // BUCKETS)
    rows = svc.store.query_dicts(q.grid(kind, subject, question.baseline), params | {"bucket_ms": bucket_ms})
    truncated = truncated or len(rows) >= MAX_CELLS
    values = grid.read(rows)
    total = values.pop((grid.ALL, grid.ALL), grid.Value())
    n_sel, n_base = total.sel, total.base
    sel_money = _money(total.money)
    main = sel_money[0]["currency"] if sel_money else None
    # An error category belongs to failures only: against the rest it would "explain" every failure.
    skip = "error_category" if (question.subject, question.baseline) == ("failed", "rest") else ""
    cells = [stats.Cell(d, v, x.sel, x.base) for (d, v), x in sorted(values.items()) if d != skip]
    slow = question.subject == "slow"  # durations compared, not shares
    durations = _durations(question, total, values) if slow else {}
    found = stats.slower(list(durations.values()), n_sel, n_base) if slow else stats.findings(cells, n_sel, n_base)

    def shaped(f: stats.Finding, money: list[dict[str, Any]], dims: list[tuple[str, str]]) -> dict[str, Any]:
        return {
            "dimensions": [{"dimension": d, "value": v} for d, v in dims],
            "selection_count": f.selection,
            "baseline_count": f.baseline,
            "share_selection": round(f.share_selection, 4),
            "share_baseline": round(f.share_baseline, 4),
            "p_value": f.p_value,
            "money_at_risk": money,
        }

    rows = _pair_rows(svc, params, kind, subject, question, found)
    pairs = _pairs(rows, found, n_sel, n_base, len(cells), shaped)
    behind = _explained(rows, found, n_sel, n_base)
    findings = []
    for f in found:
        money = _money(values[(f.dimension, f.value)].money)
        by = behind.get((f.dimension, f.value))
        extra: dict[str, Any] = {
            "listing": _link(question, f.dimension, f.value),
            "explained_by": [{"dimension": by[0], "value": by[1]}] if by else None,
        }
        if slow:
            extra["latency"] = _latency(durations[(f.dimension, f.value)])
        findings.append(shaped(f, money, [(f.dimension, f.value)]) | extra)
    findings.sort(key=lambda x: (bool(x["explained_by"]), *_rank_key(x["money_at_risk"], main, x["selection_count"])))
    hits, units = grid.series(total, -(-span // bucket_ms))
    change = _change(question, hits, units, values, bucket_ms)
    return {
        "subject": question.subject,
        "baseline": question.baseline,
        "unit": "transaction" if kind == "transactions" else "entity_step",
        "stage": question.stage or None,
        "selection": {"count": n_sel, "money_at_risk": sel_money},
        "baseline_count": n_base,
        "level": stats.LEVEL,
        "test": stats.LATENCY_TEST if slow else stats.TEST,
        "correction": stats.CORRECTION,
        "findings": findings,
        "pairs": pairs,
        "change_point": change,
        "bucket_ms": bucket_ms,
        "series": [
            {"at": iso(question.window.since_ms + i * bucket_ms), "subject": h, "units": n}
            for i, (h, n) in enumerate(zip(hits, units, strict=True))
        ],
        "truncated": truncated,
    }


def _durations(
    question: Question, total: grid.Value, values: dict[grid.Key, grid.Value]
) -> dict[grid.Key, stats.Durations]:
    """Per value, its sampled durations in the window against its baseline's: the window's other
    units (``rest``), or the same value in the previous window (``previous``; the whole previous
    window when the value is new)."""
    out = {}
    for key, x in sorted(values.items()):
        if question.baseline == "rest":
            rest = total.rest(key)
        else:
            rest = x.durations_before if len(x.durations_before) >= stats.MIN_SAMPLE else total.durations_before
        out[key] = stats.Durations(key[0], key[1], x.sel, x.base, x.durations, rest)
    return out


def _latency(d: stats.Durations) -> dict[str, Any]:
    """Median and 90th percentile of a value's sampled durations and of its baseline's (ms)."""

    def q(xs: Sequence[float], at: float) -> float | None:
        return round(float(np.quantile(xs, at)), 3) if len(xs) else None

    return {
        "median_ms": q(d.durations, 0.5),
        "median_baseline_ms": q(d.rest, 0.5),
        "p90_ms": q(d.durations, 0.9),
        "p90_baseline_ms": q(d.rest, 0.9),
        "sampled": len(d.durations),
        "sampled_baseline": len(d.rest),
    }


def _pair_rows(
    svc: Lineage, params: dict[str, Any], kind: str, subject: str, question: Question, found: list[stats.Finding]
) -> list[dict[str, Any]]:
    """Units of the selection and of the baseline carrying both values of each pair of the top
    findings (different dimensions), with the selection's money per currency."""
    top = found[:TOP_FOR_PAIRS]
    wanted = [
        ((a.dimension, a.value), (b.dimension, b.value)) for a, b in combinations(top, 2) if a.dimension != b.dimension
    ]
    if not wanted:
        return []
    named = {d for pair in wanted for d, _ in pair}
    attrs = any(d.startswith(q.ATTRIBUTE_DIMENSIONS) for d in named)
    sql = q.pairs(kind, subject, question.baseline, attrs, named)
    rows = svc.store.query_dicts(sql, params | {"pairs": wanted})
    order = {pair: i for i, pair in enumerate(wanted)}  # the top findings' order, not the hash table's
    return sorted(rows, key=lambda r: order[((r["dim_a"], r["value_a"]), (r["dim_b"], r["value_b"]))])


def _pairs(
    rows: list[dict[str, Any]], found: list[stats.Finding], n_sel: int, n_base: int, family: int, shaped: Any
) -> list[dict[str, Any]]:
    """Pairs of the top findings whose lift clearly exceeds each part's, significant after a
    Bonferroni correction over the cells and the pairs together."""
    top = found[:TOP_FOR_PAIRS]
    candidates = sum(1 for a, b in combinations(top, 2) if a.dimension != b.dimension)
    singles = {(f.dimension, f.value): f for f in top}
    out = []
    for r in rows:
        cell = stats.Cell(f"{r['dim_a']}+{r['dim_b']}", "", int(r["sel_n"]), int(r["base_n"]))
        raw = stats.findings([cell], n_sel, n_base, level=stats.LEVEL / (family + candidates))
        if not raw:
            continue
        parts = [singles[(r["dim_a"], r["value_a"])], singles[(r["dim_b"], r["value_b"])]]
        if not stats.explains_more(raw[0], parts):
            continue
        money = _money(dict(zip(r["money"][0], r["money"][1], strict=True))) if r["money"] else []
        out.append(shaped(raw[0], money, [(r["dim_a"], r["value_a"]), (r["dim_b"], r["value_b"])]))
    return out


def _explained(
    rows: list[dict[str, Any]], found: list[stats.Finding], n_sel: int, n_base: int
) -> dict[grid.Key, grid.Key]:
    """Findings whose excess another top finding explains, and not the other way round (a region
    whose failures are one legal entity's): the first such other finding of each. Ranked after the
    others, whatever their money."""
    top = found[:TOP_FOR_PAIRS]
    both = {}
    for r in rows:
        a, b = (r["dim_a"], r["value_a"]), (r["dim_b"], r["value_b"])
        both[(a, b)] = both[(b, a)] = (int(r["sel_n"]), int(r["base_n"]))
    keys = [(f.dimension, f.value) for f in top]
    by = {
        (x, y): stats.explained_by(fx, fy, *both[(x, y)], n_sel, n_base)
        for x, fx in zip(keys, top, strict=True)
        for y, fy in zip(keys, top, strict=True)
        if (x, y) in both
    }
    # Each explaining the other: the cause is both together (a legal entity's postings), keep both.
    explained = [(x, y) for (x, y), yes in by.items() if yes and not by[(y, x)]]
    out: dict[grid.Key, grid.Key] = {}
    for x, y in explained:  # in the top's order: the most significant explaining finding first
        out.setdefault(x, y)
    return out


def _change(
    question: Question, hits: list[int], totals: list[int], values: dict[grid.Key, grid.Value], bucket_ms: int
) -> dict[str, Any] | None:
    """When the subject's rate (``hits`` of ``totals`` per bucket) rose in the window (one change
    point), and the values that first appeared or jumped there. A value appeared when its first
    unit is in the bucket before the change point or later: the point is a bucket's start, and a
    cause (a deploy at 14:02) usually starts inside the bucket before it."""
    cp = stats.change_point(hits, totals)
    if cp is None:
        return None
    keys = sorted(values)
    onsets = [stats.Onset(d, v, *values[(d, v)].split(cp.index)) for d, v in keys]
    new = {k for k in keys if values[k].first_bucket() >= cp.index - 1}
    shown: list[dict[str, Any]] = [
        {"dimension": o.dimension, "value": o.value, "how": "appeared", "selection_after": o.hits_after}
        for k, o in zip(keys, onsets, strict=True)
        if k in new and o.hits_after > 0
    ]
    shown += [
        {"dimension": o.dimension, "value": o.value, "how": "jumped", "selection_after": o.hits_after}
        for o, _ in stats.risen(
            [o for k, o in zip(keys, onsets, strict=True) if k not in new and o.n_before > 0 and o.hits_after > 0]
        )
    ]
    shown.sort(key=lambda x: -x["selection_after"])
    return {
        "at": iso(question.window.since_ms + cp.index * bucket_ms),
        "bucket_ms": bucket_ms,
        "rate_before": round(cp.rate_before, 4),
        "rate_after": round(cp.rate_after, 4),
        "p_value": cp.p_value,
        "values": shown[:10],
    }
