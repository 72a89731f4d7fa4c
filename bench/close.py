"""Close gate benchmark: the close status of every legal entity for one month, and where its
time goes (the aim, issue 24: p95 < 200 ms at 10M spans).

    .venv/bin/python -m bench.close --spans 2000000 --days 7 [--data-dir D --reuse] [--runs 10] [--json]

Over the --spans history of bench/history.py (transactions over --days ending now, seven legal
entities ``LE-0``..``LE-6`` cut in UTC; its store can be reused with --reuse), timing the
services directly (no HTTP):

* ``status, every entity, <month>``: the gates of the seven entities as ``GET
  /api/v1/close?period=`` computes them (lineage/close/service.py ``gates``: the reads that can
  be, grouped by legal entity in one pass), for this month (open: one posting queue) and the last
  one (ended: the queue now and at its end); ``..., entity by entity``: the same, one gate after
  another (how it was computed before). The two are timed in turn, run by run, so a load change
  on the shared machine hits both alike;
* ``status, every entity, <month>, heap as loaded`` and ``..., heap settled``: this month's status
  before and after the heap is settled as ``serve`` settles it once started (collector/heap.py:
  what start built frozen out of the garbage collector's walks); every other case is timed after;
* ``gate, one entity, <month>``: the same for ``LE-0`` alone;
* ``part: ...``: each read of one gate (``LE-0``, this month) on its own: the posting stage's
  waiting queue (lineage/business/waiting.py) with the business-date filter and without it
  (the period's hop times only, as before business dates), the period's open exceptions,
  reconciliation breaks, expected journals, unsealed hops and malformed business dates.

``--json`` ends the output with one JSON object: ``{"spans", "hops", "load_s", "figures": {name:
{"runs", "p50_ms", "p95_ms"}}}``.
"""

from __future__ import annotations

import argparse
import functools
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.lineage import CALENDAR, counts, loaded
from bench.stats import paired, timed
from collector import heap
from lineage.business.waiting import waiting, waiting_in_period
from lineage.close import groups, hopset
from lineage.close import queries as q
from lineage.close.periods import period, previous_period
from lineage.close.service import gate, gates
from lineage.core.flows import load_flows
from lineage.core.scope import EVERYTHING
from lineage.core.service import Lineage
from lineage.core.timeparse import to_ms, utcnow
from lineage.core.window import Window


def _one_by_one(svc: Lineage, entities: list[str], month: str) -> list[dict[str, Any]]:
    return [gate(svc, CALENDAR, EVERYTHING, le, month) for le in entities]


def cases(svc: Lineage, now_ms: int) -> list[tuple[str, Callable[[], Any]]]:
    """What is timed: whole gates, then each part of one."""
    this = time.strftime("%Y-%m", time.gmtime(now_ms / 1000))
    last = previous_period(now_ms, "UTC")
    entities = sorted(CALENDAR.entities)
    le0 = EVERYTHING.narrowed("LE-0", "")
    p = period(this, "UTC", CALENDAR.deadline_business_days)  # the month holding most of the history
    flow = svc.config.flows["support_credit"]
    since, until = p.start_ms - hopset.LOOK_MS, p.end_ms + hopset.LOOK_MS

    def queue(as_of: dict[str, int]) -> Any:
        return waiting_in_period(svc.store, svc.config, le0, flow, since_ms=since, until_ms=until,
                                 now_ms=now_ms, limit=groups.LIMIT, stage="ledger", period=p.name,
                                 time_zone="UTC", **as_of)  # fmt: skip

    unsealed = le0.params() | hopset.params(p, "UTC")
    out: list[tuple[str, Callable[[], Any]]] = []
    for month in (this, last):
        every = functools.partial(gates, svc, CALENDAR, EVERYTHING, entities, month)
        out.append((f"status, every entity, {month}", every))
        one_by_one = functools.partial(_one_by_one, svc, entities, month)
        out.append((f"status, every entity, {month}, entity by entity", one_by_one))
        out.append((f"gate, one entity, {month}", functools.partial(gate, svc, CALENDAR, EVERYTHING, "LE-0", month)))
    return [
        ("part: posting queue now", lambda: queue({})),
        (
            "part: posting queue, no business dates",
            lambda: waiting(
                svc.store,
                svc.config,
                le0,
                flow,
                since_ms=p.start_ms,
                until_ms=p.end_ms,
                now_ms=now_ms,
                limit=groups.LIMIT,
                stage="ledger",
            ),
        ),
        ("part: open exceptions", lambda: svc.exceptions(le0, Window(p.start_ms, p.end_ms, 5000), "open", "", "")),
        ("part: reconciliation breaks", lambda: groups.reconciliation_breaks(svc, CALENDAR, le0, p)),
        ("part: expected journals", lambda: groups.missing_journals(svc, CALENDAR, le0, "LE-0", p)),
        ("part: unsealed hops", lambda: svc.store.query_dicts(q.UNSEALED, unsealed)),
        ("part: malformed business dates", lambda: groups.malformed_dates(svc, CALENDAR, le0, "UTC", p)),
        *out,
    ]


def run(spans: int, days: float, runs: int, data_dir: Path, reuse: bool) -> dict[str, Any]:
    """Load (unless reusing), then time every case; print one line each; return the figures."""
    settings, store, seconds = loaded(spans, days, data_dir, reuse)
    stored, hops = counts(store, settings.clickhouse_database)
    print(f"{stored:,} spans, {hops:,} hops (loaded in {seconds:.1f}s)")
    svc = Lineage(settings, store, load_flows())
    figures: dict[str, dict[str, float]] = {}
    print(f"\n{'case':<64}{'runs':>6}{'p50 ms':>10}{'p95 ms':>10}")
    todo = cases(svc, to_ms(utcnow()))
    by_name = dict(todo)
    _settle_heap(todo, runs, figures)
    for name, fn in todo:
        if name.endswith("entity by entity"):
            continue  # timed in turn with its grouped twin
        fn()  # warm
        twin = by_name.get(f"{name}, entity by entity")
        if twin is None:
            n = runs
            measured = [(name, timed(fn, n))]
        else:
            twin()
            n = max(3, runs // 7)
            pair = paired([lambda _, f=fn: f(), lambda _, f=twin: f()], [""], n)  # type: ignore[misc]
            measured = list(zip((name, f"{name}, entity by entity"), pair, strict=True))
        for label, (p50, p95) in measured:
            figures[label] = {"runs": n, "p50_ms": round(p50, 2), "p95_ms": round(p95, 2)}
            print(f"{label:<64}{n:>6}{p50:>10.1f}{p95:>10.1f}", flush=True)
    return {"spans": stored, "hops": hops, "load_s": seconds, "figures": figures}


def _settle_heap(todo: list[tuple[str, Callable[[], Any]]], runs: int, figures: dict[str, dict[str, float]]) -> None:
    """The heap as ``serve`` leaves it once started (collector/heap.py), for every case after
    this; first the open month's every-entity status with the heap as loaded, then settled."""
    name, fn = next((n, f) for n, f in todo if n.startswith("status, every entity") and not n.endswith("entity"))
    fn()  # warm
    n = max(5, runs // 4)
    before = timed(fn, n)
    frozen = heap.settle()
    after = timed(fn, n)
    for label, (p50, p95) in ((f"{name}, heap as loaded", before), (f"{name}, heap settled", after)):
        figures[label] = {"runs": n, "p50_ms": round(p50, 2), "p95_ms": round(p95, 2)}
        print(f"{label:<64}{n:>6}{p50:>10.1f}{p95:>10.1f}", flush=True)
    print(f"({frozen:,} objects frozen)")


def main() -> None:
    """Command line: --spans, --days, --runs, --data-dir, --reuse, --json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=10_000_000, help="spans to generate (default 10M)")
    parser.add_argument("--days", type=float, default=7.0, help="days the transactions span")
    parser.add_argument("--runs", type=int, default=20, help="runs per case (every-entity status: runs/7, at least 3)")
    parser.add_argument("--data-dir", type=Path, default=None, help="chdb directory (default: a temp dir)")
    parser.add_argument("--reuse", action="store_true", help="measure the spans already in --data-dir")
    parser.add_argument("--json", action="store_true", help="finish with the figures as one JSON line")
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="ledgerline-bench-close-"))
    figures = run(args.spans, args.days, max(args.runs, 1), data_dir, args.reuse)
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
