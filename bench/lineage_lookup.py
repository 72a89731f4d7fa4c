"""The transaction lookup before and after its first stitching step, edges and withheld count
were read in one query (issue 27, queries.LOOKUP_STEPS), in one run.

"before" is :class:`Separate`, the lookup reading them as separate queries (kept here only as
the reference to measure against); "after" is the lookup as shipped. Both are timed in turn on
the same random transactions (``paired``), so a load change on the shared machine hits both
alike, unrestricted and as a caller scoped to one legal entity, and the store queries each
lookup makes are counted.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from collector.store import Store
from lineage.core.scope import EVERYTHING, Scope
from lineage.core.service import Keys, Lineage
from lineage.sql import queries

# The scoped caller timed: one legal entity of the bench's seven.
SCOPED = Scope(legal_entities=("LE-0",))


class Separate(Lineage):
    """The lookup before its reads were folded (the reference, not shipped): the withheld
    count, the first stitching step and the edges each a query of its own."""

    def _lookup_step(
        self, scope: Scope, cid: str, keys: Keys
    ) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]], int]:
        withheld = 0 if scope.unrestricted else int(self._scoped(scope, queries.WITHHELD, cid=cid)[0]["withheld"])
        edges = self._scoped(scope, queries.EDGES, ents=keys[cid]["ents"], limit=self.settings.max_edges)
        return None, edges, withheld  # None: related() reads the first step itself


class Counter:
    """Counts the queries run on a store (every read goes through ``query_columns``) and the
    milliseconds spent in each (by its SQL text)."""

    def __init__(self, store: Store) -> None:
        self.n = 0
        self.ms: dict[str, float] = {}
        self.calls: list[tuple[str, Any]] = []  # (SQL, parameters) of every query, while ``recording``
        self.recording = False
        self.real = real = store.query_columns

        def counted(sql: str, *args: Any, **kw: Any) -> Any:
            self.n += 1
            if self.recording:
                self.calls.append((sql, args[0] if args else kw.get("parameters")))
            started = time.perf_counter()
            try:
                return real(sql, *args, **kw)
            finally:
                self.ms[sql] = self.ms.get(sql, 0.0) + (time.perf_counter() - started) * 1000

        store.query_columns = counted  # type: ignore[method-assign]


def breakdown(counter: Counter, fn: Callable[[str], Any], args: list[str]) -> dict[str, float]:
    """Where one call of ``fn`` spends its time, in mean ms per call: in each store query (named
    by lineage/sql/queries.py), and outside the store (Python: folding, shaping)."""
    names = _names()
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


def _names() -> dict[str, str]:
    names = {v: k for k, v in vars(queries).items() if isinstance(v, str) and k.isupper()}
    return names | {sql: f"LOOKUP_STEPS[{how!r}, {scoped}]" for (how, scoped), sql in queries.LOOKUP_STEPS.items()}


def planning(counter: Counter, fn: Callable[[str], Any], args: list[str]) -> dict[str, dict[str, float]]:
    """How much of each query of ``fn`` is planning: every query one call of ``fn`` made over
    ``args`` is run again, as it is and as ``EXPLAIN PLAN`` (parse, analyse, plan; no read), and
    the mean ms of each per query name."""
    counter.calls.clear()
    counter.recording = True
    try:
        for arg in args:
            fn(arg)
    finally:
        counter.recording = False
    names = _names()
    out: dict[str, dict[str, float]] = {}
    for sql, params in counter.calls:
        times = []
        for text in (sql, "EXPLAIN PLAN " + sql):
            started = time.perf_counter()
            counter.real(text, params)
            times.append((time.perf_counter() - started) * 1000)
        f = out.setdefault(names.get(sql, "other"), {"n": 0, "query_ms": 0.0, "plan_ms": 0.0})
        f["n"] += 1
        f["query_ms"] += times[0]
        f["plan_ms"] += times[1]
    return {
        k: {"n": f["n"], "query_ms": round(f["query_ms"] / f["n"], 2), "plan_ms": round(f["plan_ms"] / f["n"], 2)}
        for k, f in out.items()
    }


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
    """p50, p95 and queries per lookup of the lookup before and after, on the same ``ids``,
    unrestricted (``before``, ``after``) and scoped to LE-0 (``before_scoped``, ``after_scoped``)."""
    before = Separate(after.settings, after.store, after.config, after.replays)
    out: dict[str, dict[str, float]] = {}
    sample = ids[:50]
    for suffix, scope in (("", EVERYTHING), ("_scoped", SCOPED)):
        fns: list[Callable[[str], Any]] = [
            functools.partial(before.transaction, scope),
            functools.partial(after.transaction, scope),
        ]
        for fn in fns:  # warm up (expression compilation)
            for cid in sample[:10]:
                fn(cid)
        for cid in sample:  # both give the same documents
            assert _stable(before.transaction(scope, cid)) == _stable(after.transaction(scope, cid)), cid
        figures = paired(fns, ids, runs)
        for label, fn, (p50, p95) in zip(("before", "after"), fns, figures, strict=True):
            out[label + suffix] = {"p50_ms": round(p50, 2), "p95_ms": round(p95, 2)}
            out[label + suffix]["queries_per_lookup"] = round(queries_per_call(counter, fn, sample), 2)
        if not suffix:
            out["after_breakdown_ms"] = breakdown(counter, fns[1], ids[:runs])
            out["before_planning_ms"] = planning(counter, fns[0], sample)  # type: ignore[assignment]
            out["after_planning_ms"] = planning(counter, fns[1], sample)  # type: ignore[assignment]
    return out


def _stable(doc: dict[str, Any] | None) -> Any:
    """A document without the fields that move with the clock (SLA time left, age)."""
    if doc is None:
        return None
    return {k: v for k, v in doc.items() if k not in ("sla", "exceptions")}


def report(figures: dict[str, dict[str, float]], runs: int) -> list[str]:
    lines = [f"\ntransaction lookup + stitching, before/after issue 27's folded step, {runs} runs each, interleaved:"]
    lines.append(f"  {'':<16}{'p50 ms':>10}{'p95 ms':>10}{'queries':>10}")
    for label in ("before", "after", "before_scoped", "after_scoped"):
        f = figures[label]
        lines.append(f"  {label:<16}{f['p50_ms']:>10.1f}{f['p95_ms']:>10.1f}{f['queries_per_lookup']:>10.2f}")
    lines.append("  after, mean ms per lookup by query (the rest: outside the store):")
    lines += [f"    {name:<28}{ms:>8.2f}" for name, ms in figures["after_breakdown_ms"].items()]
    for label in ("before", "after"):
        lines.append(f"  {label}, each query run again: mean ms as run / as EXPLAIN PLAN (planning alone), runs:")
        plans: dict[str, Any] = figures[f"{label}_planning_ms"]
        lines += [f"    {k:<32}{f['query_ms']:>8.2f}{f['plan_ms']:>8.2f}{f['n']:>6}" for k, f in plans.items()]
    return lines
