"""The transaction lookup before and after it folded attempts in Python (issue 27), in one run.

"before" is :class:`Lineage` with its hops read by the SQL aggregation the lookup used until
then (kept here only as the reference to measure against: lineage/core/fold.py is the one
definition); "after" is the lookup as shipped. Both are timed in turn on the same random
transactions (``paired``), so a load change on the shared machine hits both alike, and the
store queries each lookup makes are counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from collector.store import Store
from lineage.core.scope import EVERYTHING, Scope, in_scope
from lineage.core.service import Lineage
from lineage.sql import queries
from lineage.sql.queries import EXC_ID

# The HOPS aggregation as it was (lineage/sql/queries.py before issue 27).
HOPS_BEFORE = """
SELECT toString(EntityType) AS entity_type, EntityId AS entity_id, toString(Step) AS step,
    toString(argMax(System, StartTime)) AS system, toString(argMax(Outcome, StartTime)) AS outcome,
    toUnixTimestamp64Milli(min(StartTime)) AS start_ms,
    toUnixTimestamp64Milli(max(EndTime)) AS end_ms,
    uniqExact(TraceId, SpanId) AS attempts,
    argMax(TraceId, StartTime) AS trace_id, argMax(SpanId, StartTime) AS span_id,
    any(CorrelationId) AS correlation_id, toString(anyIf(Flow, Flow != '')) AS flow,
    toString(argMaxIf(ErrorCategory, StartTime, ErrorCategory != '')) AS error_category,
    argMaxIf(Amount, StartTime, Amount IS NOT NULL) AS amount,
    toString(argMaxIf(Currency, StartTime, Currency != '')) AS currency,
    toString(any(ParentType)) AS parent_type, groupUniqArrayArray(ParentIds) AS parent_ids,
    countIf(Outcome = 'ok') AS oks, countIf(Outcome NOT IN ('ok', 'compensated')) AS fails,
    toUnixTimestamp64Milli(minIf(EndTime, Outcome = 'ok')) AS ok_ms,
    any(Compensates) AS compensates,
    maxIf(StartTime, Outcome = 'ok') > maxIf(StartTime, Outcome != 'ok') AS auto_resolved,
    __EXC_ID__ AS exc_id,
    toUnixTimestamp64Milli(minIf(StartTime, Outcome != 'ok')) AS fail_first_ms,
    toUnixTimestamp64Milli(maxIf(EndTime, Outcome != 'ok')) AS fail_last_ms,
    toUnixTimestamp64Milli(maxIf(StartTime, Outcome != 'ok')) AS fail_start_ms,
    toString(argMaxIf(Outcome, StartTime, Outcome != 'ok')) AS fail_outcome,
    toString(argMaxIf(System, StartTime, Outcome != 'ok')) AS fail_system,
    toString(argMaxIf(Region, StartTime, Outcome != 'ok')) AS fail_region,
    argMaxIf(StatusMessage, StartTime, Outcome != 'ok') AS fail_message,
    toUnixTimestamp64Milli(argMaxIf(EndTime, StartTime, Outcome = 'ok')) AS ok_end_ms,
    groupUniqArrayIf(IdempotencyKey, Outcome = 'ok' AND IdempotencyKey != '') AS idem_keys,
    groupUniqArrayArray(arrayZip(LinkTraceIds, LinkSpanIds)) AS links,
    argMaxIf(Amount, StartTime, Outcome = 'ok' AND Amount IS NOT NULL) AS ok_amount,
    toString(argMaxIf(Currency, StartTime, Outcome = 'ok' AND Amount IS NOT NULL)) AS ok_currency,
    arraySort(x -> x.3, groupArray((toString(Outcome), toString(ErrorCategory), toUnixTimestamp64Milli(StartTime),
        toUnixTimestamp64Milli(EndTime), TraceId, SpanId))) AS attempt_list
FROM hops FINAL
WHERE CorrelationId = {cid:String} AND __IN_SCOPE__
GROUP BY EntityType, EntityId, Step
ORDER BY start_ms, entity_type, entity_id, step
LIMIT {limit:UInt32}
""".replace("__EXC_ID__", EXC_ID).replace("__IN_SCOPE__", in_scope())


class Before(Lineage):
    """The lookup with its hops from the SQL aggregation (the reference, not shipped)."""

    def hops(self, scope: Scope, cid: str) -> list[dict[str, Any]]:
        return self._scoped(scope, HOPS_BEFORE, cid=cid, limit=self.settings.max_hops + 1)


class Counter:
    """Counts the queries run on a store (every read goes through ``query_columns``) and the
    milliseconds spent in each (by its SQL text)."""

    def __init__(self, store: Store) -> None:
        self.n = 0
        self.ms: dict[str, float] = {}
        real = store.query_columns

        def counted(sql: str, *args: Any, **kw: Any) -> Any:
            self.n += 1
            started = time.perf_counter()
            try:
                return real(sql, *args, **kw)
            finally:
                self.ms[sql] = self.ms.get(sql, 0.0) + (time.perf_counter() - started) * 1000

        store.query_columns = counted  # type: ignore[method-assign]


def breakdown(counter: Counter, fn: Callable[[str], Any], args: list[str]) -> dict[str, float]:
    """Where one call of ``fn`` spends its time, in mean ms per call: in each store query (named
    by lineage/sql/queries.py), and outside the store (Python: folding, shaping)."""
    names = {v: k for k, v in vars(queries).items() if isinstance(v, str) and k.isupper()}
    counter.ms.clear()
    started = time.perf_counter()
    for arg in args:
        fn(arg)
    total = (time.perf_counter() - started) * 1000
    out = {names.get(sql, "other"): 0.0 for sql in counter.ms}
    for sql, ms in counter.ms.items():
        out[names.get(sql, "other")] += ms / len(args)
    out["outside the store"] = (total - sum(counter.ms.values())) / len(args)
    return {k: round(v, 2) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}


def queries_per_call(counter: Counter, fn: Callable[[str], Any], args: list[str]) -> float:
    """The mean number of store queries one call of ``fn`` makes over ``args``."""
    before = counter.n
    for arg in args:
        fn(arg)
    return (counter.n - before) / max(1, len(args))


def compare(
    after: Lineage,
    counter: Counter,
    ids: list[str],
    runs: int,
    paired: Callable[[list[Callable[[str], Any]], list[str], int], list[tuple[float, float]]],
) -> dict[str, dict[str, float]]:
    """p50, p95 and queries per lookup of the lookup before and after, on the same ``ids``."""
    before = Before(after.settings, after.store, after.config, after.replays)
    fns: list[Callable[[str], Any]] = [
        lambda c: before.transaction(EVERYTHING, c),
        lambda c: after.transaction(EVERYTHING, c),
    ]
    sample = ids[:50]
    for fn in fns:  # warm up (expression compilation) and check both give the same documents
        for cid in sample[:10]:
            fn(cid)
    for cid in sample:
        a, b = before.transaction(EVERYTHING, cid), after.transaction(EVERYTHING, cid)
        assert _stable(a) == _stable(b), f"before and after disagree on {cid}"
    figures = paired(fns, ids, runs)
    out: dict[str, dict[str, float]] = {}
    for label, fn, (p50, p95) in zip(("before", "after"), fns, figures, strict=True):
        out[label] = {"p50_ms": round(p50, 2), "p95_ms": round(p95, 2)}
        out[label]["queries_per_lookup"] = round(queries_per_call(counter, fn, sample), 2)
    out["after_breakdown_ms"] = breakdown(counter, fns[1], ids[:runs])
    return out


def _stable(doc: dict[str, Any] | None) -> Any:
    """A document without the fields that move with the clock (SLA time left, age)."""
    if doc is None:
        return None
    return {k: v for k, v in doc.items() if k not in ("sla", "exceptions")}


def report(figures: dict[str, dict[str, float]], runs: int) -> list[str]:
    lines = [f"\ntransaction lookup + stitching, before/after issue 27, {runs} runs each, interleaved:"]
    lines.append(f"  {'':<10}{'p50 ms':>10}{'p95 ms':>10}{'queries':>10}")
    for label in ("before", "after"):
        f = figures[label]
        lines.append(f"  {label:<10}{f['p50_ms']:>10.1f}{f['p95_ms']:>10.1f}{f['queries_per_lookup']:>10.2f}")
    lines.append("  after, mean ms per lookup by query (the rest: outside the store):")
    lines += [f"    {name:<28}{ms:>8.2f}" for name, ms in figures["after_breakdown_ms"].items()]
    return lines
