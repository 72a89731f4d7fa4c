"""Listings over fat transactions (``python -m bench.lineage --fat N``): the transaction listing
through the real API app when the window holds a few hundred very large transactions.

    .venv/bin/python -m bench.lineage --fat 300 --fat-hops 5000 --spans 1000000 --runs 10 [--json]

On top of the --spans background (bench/history.py), N transactions of the support_credit flow
with M hops each start in the last hour (between 50 and 10 minutes ago, one after another),
among as many ordinary transactions (N-<i>, five hops each) as the background has per hour:
a case, a credit, then line items, each an invoice and its ledger posting (parent: the invoice),
every posting attempt retried once after a timeout. One in three ends complete, one in three
has every posting still failing with a timeout (in flight), one in three has its last posting
dead-lettered (failed). Then each listing of :data:`PATHS` is requested ``--runs`` times
(after one warm-up call) with auth off, in-process through FastAPI's TestClient, and its p50
and p95 printed. ``--reuse`` with ``--data-dir`` measures a store loaded before (the fat
transactions keep the time they were loaded at), e.g. the same store under another checkout's
lineage code, for a before/after (docs/benchmarks.md).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from bench.history import SPANS_PER_TXN, History, load_journal, load_range
from bench.stats import settle, timed
from collector.store import Store, open_store
from ledgerline.schema import migrate_all
from lineage.api.app import create_app
from lineage.auth.settings import AuthSettings
from lineage.settings import LineageSettings

# The listings timed, as the API serves them.
PATHS = (
    "/api/v1/transactions?since=1h&limit=5",
    "/api/v1/transactions?since=1h&limit=100",
    "/api/v1/transactions?since=1h&limit=5&status=complete",
    "/api/v1/transactions?since=1h&limit=5&status=failed",
    "/api/v1/transactions?since=1h&limit=5&status=in_flight",
    "/api/v1/transactions?since=1h&limit=5&status=stuck",
    "/api/v1/transactions?since=24h&limit=5&system=sap",
    "/api/v1/transactions?since=24h&limit=100",
    "/api/v1/transactions?since=24h&limit=5000&status=stuck",
    "/api/v1/transactions?since=24h&limit=10000",
)

# Transaction <prefix>-<txn>, hop k of M: 0 the case, 1 the credit, then per line item j an
# invoice (k = 2 + 3j), a failed posting attempt (timeout) and the retried attempt (ok; in
# flight: timeout again; failed: the last posting attempts dead-lettered).
_FAT = """
INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ServiceName, SpanName, SpanAttributes, Duration, StatusCode)
WITH intDiv(number, {hops:UInt64}) AS txn, number % {hops:UInt64} AS k, intDiv(k - 2, 3) AS item,
    multiIf(k = 0, 0, k = 1, 1, (k - 2) % 3 = 0, 2, 3) AS stage,
    ['case', 'credit', 'invoice', 'ledger'][stage + 1] AS etype,
    ['case.opened', 'credit.approved', 'invoice.issued', 'ledger.posted'][stage + 1] AS step,
    ['zendesk', 'billing', 'billing', 'sap'][stage + 1] AS system,
    multiIf(stage != 3 OR ((k - 2) % 3 = 2 AND txn % 3 = 0), 'ok',
            txn % 3 = 2 AND k + 3 >= {hops:UInt64}, 'dead_letter', 'failed') AS outcome,
    concat({prefix:String}, toString(txn)) AS tag,
    [concat('CASE-', tag), concat('CR-', tag), concat('INV-', tag, '-', toString(item)),
     concat('LED-', tag, '-', toString(item))][stage + 1] AS eid,
    [['', ''], ['case', concat('CASE-', tag)], ['credit', concat('CR-', tag)],
     ['invoice', concat('INV-', tag, '-', toString(item))]][stage + 1] AS parent
SELECT fromUnixTimestamp64Milli({start_ms:Int64} + txn * {gap_ms:Int64} + k * 20),
    lower(hex(MD5(concat('fat', tag)))), lower(substring(hex(MD5(concat('fat-span', tag, toString(number)))), 1, 16)),
    concat(system, '-adapter'), step,
    map('correlation.id', concat({prefix:String}, '-', toString(txn)), 'biz.flow', 'support_credit',
        'biz.entity.type', etype, 'biz.entity.id', eid, 'biz.parent.type', parent[1], 'biz.parent.id', parent[2],
        'biz.step', step, 'biz.system', system, 'biz.outcome', outcome,
        'biz.error.category', multiIf(outcome = 'failed', 'timeout', outcome = 'dead_letter', 'tax_error', ''),
        'biz.region', 'emea', 'biz.legal_entity', 'LE-1'),
    toUInt64(5000000), if(outcome = 'ok', 'Ok', 'Error')
FROM numbers({count:UInt64})
"""


def load_fat(store: Store, n: int, hops: int, prefix: str = "F", ago_min: tuple[int, int] = (50, 10)) -> float:
    """``n`` transactions ``<prefix>-<i>`` of ``hops`` hops each, started one after another
    between ``ago_min`` minutes ago (default: 50 to 10); seconds."""
    started = time.monotonic()
    first_ms = int(time.time() * 1000) - ago_min[0] * 60_000
    gap_ms = (ago_min[0] - ago_min[1]) * 60_000 // max(1, n)
    store.command(_FAT, {"hops": hops, "count": n * hops, "start_ms": first_ms, "gap_ms": gap_ms, "prefix": prefix})
    return time.monotonic() - started


def measure(settings: LineageSettings, store: Store, runs: int) -> dict[str, dict[str, Any]]:
    """p50/p95 ms of each of :data:`PATHS` (auth off), with the size of its answer."""
    out: dict[str, dict[str, Any]] = {}
    print(f"\n{'listing':<62}{'runs':>6}{'p50 ms':>10}{'p95 ms':>10}  answer")
    with TestClient(create_app(settings, store, AuthSettings(api_auth="off"))) as client:
        for path in PATHS:
            first = client.get(path)
            if first.status_code != 200:
                raise RuntimeError(f"{path} answered {first.status_code}: {first.text[:200]}")
            body = first.json()
            p50, p95 = timed(lambda p=path: client.get(p), runs)  # type: ignore[misc]
            answer = f"{len(body['transactions'])} listed, truncated={body['truncated']}"
            out[path] = {"runs": runs, "p50_ms": round(p50, 1), "p95_ms": round(p95, 1), "answer": answer}
            print(f"{path:<62}{runs:>6}{p50:>10.1f}{p95:>10.1f}  {answer}", flush=True)
    return out


def run(spans: int, days: float, runs: int, data_dir: Path, reuse: bool, fat: int, fat_hops: int) -> dict[str, Any]:
    """Load (unless ``reuse``) the background and the fat transactions; time the listings."""
    settings = LineageSettings(clickhouse_url=f"chdb://{data_dir}", clickhouse_database="bench", query_timeout_s=120)
    store = open_store(settings)
    migrate_all(store)
    out: dict[str, Any] = {"spans": spans, "fat": fat, "fat_hops": fat_hops}
    if reuse and store.query("SELECT count() FROM hops")[0][0]:
        print(f"reusing the store in {data_dir}")
    else:
        print(f"loading {spans:,} background spans and {fat} fat transactions of {fat_hops:,} hops into {data_dir} ...")
        history = History.ending_now(spans, days)
        out["load_s"] = load_range(store, history, 0, spans) if spans else 0.0
        load_journal(store, history)
        # as many ordinary transactions (five hops, the same three endings) as the background has per hour
        normal = max(100, spans // SPANS_PER_TXN // max(1, int(days * 24)))
        out["load_s"] += load_fat(store, fat, fat_hops) + load_fat(store, normal, 5, "N")
    waited = settle(store, settings.clickhouse_database)
    hops, fat_hops_stored = store.query("SELECT count(), countIf(startsWith(CorrelationId, 'F-')) FROM hops")[0]
    window = store.query("SELECT count() FROM hop_times WHERE StartTime >= now64() - INTERVAL 1 HOUR")[0][0]
    print(f"{hops:,} hops ({fat_hops_stored:,} in fat transactions), {window:,} started in the last hour")
    if waited > 1:
        print(f"  waited {waited:.0f}s for background merges")
    out |= {"hops": int(hops), "fat_hops_stored": int(fat_hops_stored), "hops_last_hour": int(window)}
    out["listings"] = measure(settings, store, runs)
    return out
