"""``GET /api/v1/explain`` before and after its passes computed only the dimensions they use
(issue 25), in one run.

"before" is :func:`explain` with the pairs pass and the slowness thresholds computing every fixed
dimension of every unit, as they did until then (kept here only as the reference to measure
against: lineage/explain/queries.py is the one definition); "after" is explain as shipped. Both
are timed in turn (``paired``), so a load change on the shared machine hits both alike, and both
answers are checked to be the same (for "slow", all but the findings and pairs: those test
random samples of durations, which differ between two calls of the same code once a value has
more units than a sample holds). The window is the 24 hours up to the latest hop of the store,
so a store loaded hours ago is asked about a full day of data.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import lineage, stats
from lineage.core.flows import load_flows
from lineage.core.scope import EVERYTHING
from lineage.core.service import Lineage
from lineage.core.window import Window
from lineage.explain import queries as q
from lineage.explain.service import Question, explain
from lineage.replay.document import replays_of

# The thresholds as they were: the step read from the units' dimensions, so every one was computed.
THRESHOLDS_BEFORE = f"""
SELECT fixed[4].2 AS step, quantileExact(0.9)(dur_ms) AS p90
FROM ({q._entity_steps()})
WHERE at_ms >= {{cur_ms:Int64}}
GROUP BY step
"""

# (name, subject, stage): the cases of bench.lineage, and slow over every step.
CASES = (
    ("explain failed 24h", "failed", ""),
    ("explain failed 24h, ledger stage", "failed", "ledger"),
    ("explain slow 24h, ledger stage", "slow", "ledger"),
    ("explain slow 24h", "slow", ""),
)


@contextmanager
def before() -> Iterator[None]:
    """Explain computing every fixed dimension in the pairs pass and the thresholds."""
    pairs, thresholds = q.pairs, q.THRESHOLDS

    def every_dimension(kind: str, subject: str, baseline: str, attrs: bool, dims: Any = None) -> str:
        return pairs(kind, subject, baseline, attrs)

    q.pairs, q.THRESHOLDS = every_dimension, THRESHOLDS_BEFORE
    try:
        yield
    finally:
        q.pairs, q.THRESHOLDS = pairs, thresholds


def _before(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    with before():
        return fn()


def _comparable(doc: dict[str, Any]) -> str:
    """The answer as compared: "slow" without what its random samples decide."""
    sampled = ("findings", "pairs") if doc["subject"] == "slow" else ()
    return json.dumps({k: v for k, v in doc.items() if k not in sampled}, sort_keys=True, default=str)


def compare(svc: Lineage, runs: int, paired: Any) -> dict[str, dict[str, Any]]:
    """Per case: p50/p95 ms before and after over ``runs`` interleaved calls, and whether the
    answers are the same; printed."""
    end = int(svc.store.query("SELECT toUnixTimestamp64Milli(max(StartTime)) FROM hops")[0][0])
    window = Window(end - 86_400_000, end, 100)
    out: dict[str, dict[str, Any]] = {}
    print(f"\n{'explain (24 h up to the latest hop)':<40}{'runs':>6}{'before p50/p95 ms':>20}{'after p50/p95 ms':>20}")
    for name, subject, stage in CASES:
        question = Question(subject, "rest", "support_credit", stage, "", window)

        def after(question: Question = question) -> dict[str, Any]:
            return explain(svc, EVERYTHING, question)

        was, now = json.loads(_comparable(_before(after))), json.loads(_comparable(after()))
        differ = sorted(k for k in now if now[k] != was.get(k))
        (b50, b95), (a50, a95) = paired([lambda _: _before(after), lambda _: after()], [""], runs)
        out[name] = {
            "runs": runs,
            "before": {"p50_ms": round(b50, 1), "p95_ms": round(b95, 1)},
            "after": {"p50_ms": round(a50, 1), "p95_ms": round(a95, 1)},
            "same_answer": not differ,
            "differ_in": differ,
        }
        print(
            f"{name:<40}{runs:>6}{f'{b50:.0f} / {b95:.0f}':>20}{f'{a50:.0f} / {a95:.0f}':>20}"
            + (f"  answers differ in {differ}" if differ else "")
        )
    return out


def run(spans: int, days: float, runs: int, data_dir: Path, reuse: bool) -> dict[str, Any]:
    """``--explain``: explain before and after, on the --spans store (loaded unless reused)."""
    settings, store, seconds = lineage.loaded(spans, days, data_dir, reuse)
    stored, hops = lineage.counts(store, settings.clickhouse_database)
    print(f"{stored:,} spans, {hops:,} hops; load average {os.getloadavg()[0]:.2f}")
    svc = Lineage(settings, store, load_flows(), replays=replays_of(store))
    figures = compare(svc, runs, stats.paired)
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return {"spans": stored, "hops": hops, "load_s": seconds, "load_average": list(load), "explain": figures}
