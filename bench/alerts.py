"""Alert evaluation benchmark: one round of the default rules plus 100 more on a large store.

    python -m bench.alerts [--spans 1000000] [--extra-rules 100] [--distinct] [--dsn chdb:///tmp/x]

Spans are generated inside ClickHouse (``INSERT INTO otel_traces SELECT ... FROM
numbers(N)``): support_credit transactions of four hops (case, credit, invoice, ledger
posting) spread over the last seven days, across three ERPs and three regions, with some
failures and slow postings. Hops derive through the real materialized views. It prints
the generation time, the hop count and the duration of evaluation rounds (first round,
then the median of three more) with every rule forced due.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

_GENERATE = """
INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ServiceName, SpanName, SpanAttributes, Duration, StatusCode)
SELECT
    fromUnixTimestamp64Milli(toInt64({now_ms:Int64} - 86400000 * 7 * (txn / {txns:Float64})
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
    FROM numbers({spans:UInt64})
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


def main(argv: list[str] | None = None) -> None:
    from alerts.evaluator import Evaluator
    from alerts.persist import Persistence
    from alerts.rules import load_rules, parse_rules
    from collector.settings import StoreSettings
    from collector.store import open_store
    from ledgerline.schema import migrate_all
    from lineage.flows import load_flows

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--extra-rules", type=int, default=100)
    parser.add_argument(
        "--distinct", action="store_true", help="worst case: every extra rule has its own window (no shared queries)"
    )
    parser.add_argument("--dsn", help="store DSN (default: a temporary embedded store)")
    args = parser.parse_args(argv)

    dsn = args.dsn or f"chdb://{tempfile.mkdtemp(prefix='ledgerline-bench-alerts-')}"
    store = open_store(StoreSettings(clickhouse_url=dsn, clickhouse_database="bench_alerts", query_timeout_s=60))
    migrate_all(store)
    now = time.time_ns() // 1_000_000
    started = time.perf_counter()
    store.command(_GENERATE, {"now_ms": now, "spans": args.spans, "txns": max(1, args.spans // 4)})
    hops = store.query("SELECT count() FROM hops")[0][0]
    print(f"generated {args.spans:,} spans -> {hops:,} hops in {time.perf_counter() - started:.1f}s")

    rules = load_rules() + parse_rules({"rules": extra_rules(args.extra_rules, args.distinct)})
    evaluator = Evaluator(Persistence(store), rules, load_flows(), query_timeout_s=60)
    rounds = []
    for _ in range(4):
        t = time.perf_counter()
        evaluator.evaluate(now, force=True)
        rounds.append(time.perf_counter() - t)
    errors = {n: h.last_error for n, h in evaluator.health.items() if h.health != "ok"}
    firing = sum(1 for a in evaluator.active() if a.state == "firing")
    print(f"{len(rules)} rules, {firing} firing instances, {len(errors)} rule errors")
    for name, err in list(errors.items())[:5]:
        print(f"  {name}: {err[:200]}")
    print(f"evaluation round: first {rounds[0]:.2f}s, then median {statistics.median(rounds[1:]):.2f}s (target < 2 s)")
    store.command("DROP DATABASE IF EXISTS bench_alerts")
    store.close()


if __name__ == "__main__":
    main()
