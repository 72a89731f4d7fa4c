"""Alert evaluation benchmark: rounds of the default rules plus 100 more on a large store.

    python -m bench.alerts [--spans 1000000] [--extra-rules 100] [--distinct] [--rounds 5]
                           [--growth [--first-spans 1000000] [--days-per-million 7]]
                           [--density-growth [--first-spans 1000000]] [--dsn chdb:///tmp/x] [--json]

Spans are generated inside ClickHouse (``INSERT INTO otel_traces SELECT ... FROM
numbers(first, count)``, by ranges of transactions): support_credit transactions of four
hops (case, credit, invoice, ledger posting) across three ERPs and three regions, with some
failures and slow postings, the newest (transaction 0) now and each further one older by a
fixed step (the density). Hops derive through the real materialized views. It prints the
generation time, the hop count and the duration of evaluation rounds with every rule forced
due: the first round, then p50 and p95 of ``--rounds`` more (rounds start once the load's
background merges are done, at most 2 minutes' wait).

Without ``--growth``, ``--spans`` (default 1M) spread over the last seven days. With
``--growth`` the density is fixed instead (1M spans per ``--days-per-million`` days): it
generates the newest ``--first-spans`` spans, measures rounds, then adds the older history
up to ``--spans`` (default 10M: 70 days at the default density; the newest transactions
and the evaluation time are the same in both phases) and measures again.

With ``--density-growth`` the window is fixed instead (seven days) and the traffic grows: it
generates ``--first-spans`` (default 1M) spans in the last seven days, measures rounds, then
starts again with ``--spans`` (default 10M) spans in the same seven days (ten times the
transactions in every rule's window) and measures again: what an estate with ten times the
traffic would wait for. Every measured phase also prints where a round goes: the time of each
rule kind, summed over its rules, median of the rounds.

``--json`` ends the output with one JSON object on the last line, with the keys
``first_round_s``, ``round_s`` (median of the rounds after the first), ``round_p95_s``,
``rounds``, ``rules``, ``firing``, ``rule_errors``, ``spans``, ``hops``, ``generate_s``;
with ``--growth`` also ``growth`` (``round_s`` at the full size / at the first size),
``round_s_1m``, ``round_p95_s_1m``, ``first_round_s_1m``, ``hops_1m`` and ``first_spans``;
with ``--density-growth`` the same keys for the first size and ``density_growth`` (``round_s`` at
``--spans`` / at ``--first-spans``); always ``kinds_s`` (median seconds per rule kind of the last
phase; ``kinds_s_1m`` for the first).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bench.stats import p50_p95, settle

if TYPE_CHECKING:
    from alerts.evaluator import Evaluator
    from collector.store import Store

SPANS_PER_TXN = 4

_GENERATE = """
INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ServiceName, SpanName, SpanAttributes, Duration, StatusCode)
SELECT
    fromUnixTimestamp64Milli(toInt64({now_ms:Int64} - 86400000 * (txn / {txns_per_day:Float64})
        + stage * 1200000 + if(stage = 3, (txn % 23) * 1800000, 0))) AS Timestamp,
    lower(hex(cityHash64(txn, 't'))) AS TraceId,
    lower(hex(cityHash64(txn, stage))) AS SpanId,
    system AS ServiceName, step AS SpanName,
    map('correlation.id', concat('C', toString(txn)), 'biz.flow', 'support_credit',
        'biz.entity.type', etype, 'biz.entity.id', concat(upper(etype), '-', toString(txn)),
        'biz.step', step, 'biz.system', system, 'biz.outcome', outcome,
        'biz.region', ['emea', 'amer', 'apac'][txn % 3 + 1],
        'biz.parent.type', if(stage = 0, '', ['case', 'credit', 'invoice'][greatest(stage, 1)]),
        'biz.parent.id', if(stage = 0, '', concat(upper(['case', 'credit', 'invoice'][greatest(stage, 1)]), '-',
            toString(txn)))) AS SpanAttributes,
    toUInt64(500000000) AS Duration,
    if(outcome = 'ok', 'Ok', 'Error') AS StatusCode
FROM (
    SELECT intDiv(number, 4) AS txn, number % 4 AS stage,
        ['case', 'credit', 'invoice', 'ledger'][stage + 1] AS etype,
        ['case.opened', 'credit.approved', 'invoice.issued', 'ledger.posted'][stage + 1] AS step,
        if(stage = 0, 'zendesk', if(stage < 3, 'billing', ['sap', 'oracle', 'netsuite'][txn % 3 + 1])) AS system,
        if(stage = 3 AND txn % 97 = 0, 'failed', 'ok') AS outcome
    FROM numbers({first:UInt64}, {count:UInt64})
)
"""


def extra_rules(n: int, distinct: bool = False) -> list[dict[str, Any]]:
    """``n`` rules over the shipped kinds with per-rule thresholds (sharing one query per
    kind and window); with ``distinct`` each also gets its own window, so none is shared."""
    kinds: list[tuple[str, dict[str, Any]]] = [
        ("posting_latency", {"quantile": 0.99, "by": "region", "window": "6h", "threshold": "2h"}),
        ("exceptions", {"metric": "size", "by": "category", "threshold": 5}),
        ("exceptions", {"metric": "oldest_age", "threshold": "12h"}),
        ("stuck", {"older_than": "12h"}),
        ("silent_system", {"period": "30m", "grace": "5m"}),
        ("slo_burn", {"objective": 99.5, "latency_target": "6h"}),
        ("sla_breach", {"flow": "support_credit", "window": "6h", "stages": ["ledger"]}),
    ]
    rules = []
    for i in range(n):
        kind, expr = kinds[i % len(kinds)]
        expr = dict(expr)
        if "threshold" in expr:
            value = expr["threshold"]
            expr["threshold"] = f"{2 + i % 10}h" if isinstance(value, str) else value + i
        if distinct:  # a window of its own per rule
            key = {"slo_burn": "latency_target", "posting_latency": "window", "sla_breach": "window"}.get(
                kind, "lookback"
            )
            expr[key] = f"{6 * 60 + i}m" if key != "lookback" else f"{7 * 24 * 60 + i}m"
        rules.append({"name": f"Extra{i}", "kind": kind, "expr": expr, "team": "platform"})
    return rules


def generate(store: Store, first: int, count: int, now_ms: int, txns_per_day: float, chunk: int = 1_000_000) -> float:
    """Generate the spans [first, first + count) (whole transactions); return seconds."""
    started = time.perf_counter()
    for at in range(first, first + count, chunk):
        params = {"now_ms": now_ms, "first": at, "count": min(chunk, first + count - at), "txns_per_day": txns_per_day}
        store.command(_GENERATE, params)
    return time.perf_counter() - started


def _timed_kinds(spent: dict[str, float]) -> Callable[[], None]:
    """Time every rule run by kind into ``spent`` (seconds, summed); returns the undo."""
    from alerts import evaluator as module

    run = module.run_rule  # type: ignore[attr-defined]  # the name the evaluator calls

    def timed(store: Any, rule: Any, *args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return run(store, rule, *args, **kwargs)
        finally:
            spent[rule.kind] = spent.get(rule.kind, 0.0) + time.perf_counter() - t

    module.run_rule = timed  # type: ignore[attr-defined]

    def undo() -> None:
        module.run_rule = run  # type: ignore[attr-defined]

    return undo


def measure(evaluator: Evaluator, now_ms: int, rounds: int) -> dict[str, Any]:
    """The first round and ``rounds`` more, every rule forced due; print them and where the
    rounds after the first go by rule kind; the figures."""
    times = []
    per_round: list[dict[str, float]] = []
    for _ in range(1 + rounds):
        spent: dict[str, float] = {}
        undo = _timed_kinds(spent)
        t = time.perf_counter()
        try:
            evaluator.evaluate(now_ms, force=True)
        finally:
            undo()
        times.append(time.perf_counter() - t)
        per_round.append(spent)
    errors = {n: h.last_error for n, h in evaluator.health.items() if h.health != "ok"}
    firing = sum(1 for a in evaluator.active() if a.state == "firing")
    print(f"{len(evaluator.rules)} rules, {firing} firing instances, {len(errors)} rule errors")
    for name, err in list(errors.items())[:5]:
        print(f"  {name}: {err[:200]}")
    p50, p95 = p50_p95(times[1:]) if rounds else (float("nan"), float("nan"))
    print(
        f"evaluation round: first {times[0]:.2f}s, then p50 {p50:.2f}s, p95 {p95:.2f}s over {rounds} rounds "
        "(target < 1 s)",
        flush=True,
    )
    later = per_round[1:] or per_round
    kinds = {k: round(statistics.median(r.get(k, 0.0) for r in later), 3) for k in sorted(set().union(*later))}
    print("  where a round goes (median s per rule kind, summed over its rules):")
    for kind, sec in sorted(kinds.items(), key=lambda kv: -kv[1]):
        n = sum(1 for r in evaluator.rules if r.kind == kind)
        print(f"    {kind:<16}{sec:>8.3f}  ({n} rules)")
    return {
        "kinds_s": kinds,
        "first_round_s": round(times[0], 3),
        "round_s": round(p50, 3),
        "round_p95_s": round(p95, 3),
        "rounds": rounds,
        "rules": len(evaluator.rules),
        "firing": firing,
        "rule_errors": len(errors),
    }


# The figures of the first size kept under ``<key>_1m`` by --density-growth.
_FIRST_KEYS = ("round_s", "round_p95_s", "first_round_s", "kinds_s")


def main(argv: list[str] | None = None) -> None:
    from alerts.evaluator import Evaluator
    from alerts.persist import Persistence
    from alerts.rules import load_rules, parse_rules
    from collector.settings import StoreSettings
    from collector.store import open_store
    from ledgerline.schema import migrate_all
    from lineage.core.flows import load_flows

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=None, help="spans in the store (default 1M; 10M with --growth)")
    parser.add_argument("--extra-rules", type=int, default=100)
    parser.add_argument(
        "--distinct", action="store_true", help="worst case: every extra rule has its own window (no shared queries)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds after the first (default 5)")
    parser.add_argument("--growth", action="store_true", help="measure at --first-spans, then at --spans")
    parser.add_argument("--first-spans", type=int, default=1_000_000, help="the first size of --growth (default 1M)")
    parser.add_argument(
        "--days-per-million", type=float, default=7.0, help="with --growth: days of history per 1M spans (default 7)"
    )
    parser.add_argument(
        "--density-growth",
        action="store_true",
        help="measure --first-spans then --spans spans in the same seven days (traffic grows, not history)",
    )
    parser.add_argument("--dsn", help="store DSN (default: a temporary embedded store)")
    parser.add_argument("--json", action="store_true", help="finish with the figures as one JSON line")
    args = parser.parse_args(argv)
    grows = args.growth or args.density_growth
    spans = args.spans if args.spans is not None else (10_000_000 if grows else 1_000_000)
    if args.growth and args.density_growth:
        parser.error("--growth and --density-growth are two different measures: choose one")
    if grows and not SPANS_PER_TXN <= args.first_spans < spans:
        parser.error("--growth and --density-growth need 4 <= --first-spans < --spans")

    tmp = None if args.dsn else tempfile.mkdtemp(prefix="ledgerline-bench-alerts-")
    dsn = args.dsn or f"chdb://{tmp}"
    store = open_store(StoreSettings(clickhouse_url=dsn, clickhouse_database="bench_alerts", query_timeout_s=60))
    migrate_all(store)
    now = time.time_ns() // 1_000_000
    if args.growth:
        txns_per_day = 1_000_000 / SPANS_PER_TXN / args.days_per_million
        split = args.first_spans // SPANS_PER_TXN * SPANS_PER_TXN
    elif args.density_growth:
        split = args.first_spans // SPANS_PER_TXN * SPANS_PER_TXN
        txns_per_day = max(1, split // SPANS_PER_TXN) / 7
    else:
        txns_per_day = max(1, spans // SPANS_PER_TXN) / 7
        split = spans
    seconds = generate(store, 0, split, now, txns_per_day)
    settle(store, "bench_alerts")  # no background merges left from the load during the rounds
    hops = store.query("SELECT count() FROM hops")[0][0]
    days = split / SPANS_PER_TXN / txns_per_day
    print(f"generated {split:,} spans ({days:.2f} days) -> {hops:,} hops in {seconds:.1f}s")

    rules = load_rules() + parse_rules({"rules": extra_rules(args.extra_rules, args.distinct)})
    evaluator = Evaluator(Persistence(store), rules, load_flows(), query_timeout_s=60)
    figures = measure(evaluator, now, args.rounds)
    out: dict[str, Any] = {"spans": split, "hops": hops, "generate_s": round(seconds, 1)}
    if args.growth:
        first = figures
        out = {
            "first_spans": split,
            "hops_1m": hops,
            "round_s_1m": first["round_s"],
            "round_p95_s_1m": first["round_p95_s"],
            "first_round_s_1m": first["first_round_s"],
            "kinds_s_1m": first["kinds_s"],
        }
        older = generate(store, split, spans - split, now, txns_per_day)
        settle(store, "bench_alerts")
        hops = store.query("SELECT count() FROM hops")[0][0]
        print(
            f"\ngenerated the older {spans - split:,} spans in {older:.1f}s: {spans:,} spans "
            f"({spans / SPANS_PER_TXN / txns_per_day:.1f} days) -> {hops:,} hops"
        )
        figures = measure(evaluator, now, args.rounds)
        growth = figures["round_s"] / first["round_s"] if first["round_s"] else float("nan")
        print(
            f"\ngrowth from {split:,} to {spans:,} spans (same density, history grows backwards, same evaluation time):"
        )
        print(f"  {'':<14}{'first round s':>15}{'p50 round s':>13}{'p95 round s':>13}")
        for size, f in ((split, first), (spans, figures)):
            print(f"  {size:<14,}{f['first_round_s']:>15.2f}{f['round_s']:>13.2f}{f['round_p95_s']:>13.2f}")
        print(f"  ratio of p50 rounds (growth): {growth:.2f}")
        out |= {"spans": spans, "hops": hops, "generate_s": round(seconds + older, 1), "growth": round(growth, 3)}
    if args.density_growth:
        first = figures
        out = {"first_spans": split, "hops_1m": hops} | {f"{k}_1m": first[k] for k in _FIRST_KEYS}
        store.command("DROP DATABASE IF EXISTS bench_alerts")
        store.close()
        store = open_store(StoreSettings(clickhouse_url=dsn, clickhouse_database="bench_alerts", query_timeout_s=60))
        migrate_all(store)
        dense = generate(store, 0, spans, now, max(1, spans // SPANS_PER_TXN) / 7)
        settle(store, "bench_alerts")
        hops = store.query("SELECT count() FROM hops")[0][0]
        print(f"\ngenerated {spans:,} spans in the same 7 days in {dense:.1f}s -> {hops:,} hops")
        evaluator = Evaluator(Persistence(store), rules, load_flows(), query_timeout_s=60)
        figures = measure(evaluator, now, args.rounds)
        growth = figures["round_s"] / first["round_s"] if first["round_s"] else float("nan")
        print(f"\ndensity growth from {split:,} to {spans:,} spans in the same 7 days (same rules, same time):")
        print(f"  {'':<14}{'first round s':>15}{'p50 round s':>13}{'p95 round s':>13}")
        for size, f in ((split, first), (spans, figures)):
            print(f"  {size:<14,}{f['first_round_s']:>15.2f}{f['round_s']:>13.2f}{f['round_p95_s']:>13.2f}")
        print(f"  ratio of p50 rounds (density_growth): {growth:.2f} (aim <= 1.3)")
        out |= {"spans": spans, "hops": hops, "generate_s": round(seconds + dense, 1)}
        out["density_growth"] = round(growth, 3)
    out |= figures
    store.command("DROP DATABASE IF EXISTS bench_alerts")
    store.close()
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
