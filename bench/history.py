"""The generated history of the lineage benchmarks: N spans (N/4 business hops) of the
support_credit flow spread over a time range, generated inside ClickHouse (INSERT ... SELECT
FROM numbers()) so loading goes through the same materialized views as real ingest. Shared by
bench/lineage.py, bench/close.py, bench/lineage_fat.py and the other benches over that history.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from collector.store import Store

SPANS_PER_TXN = 16
# The transaction of a generated span's correlation ID ('C-<txn>').
TXN_OF = "toUInt64OrZero(substring({col}, 3))"

# n -> (transaction, stage, technical child); hop spans are the ones with tech = 0.
# Each transaction has 4 hop spans + 12 technical spans + retry attempts for some postings.
_GENERATE = """
INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind,
    ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode,
    StatusMessage)
WITH
    intDiv(number, 16) AS txn, intDiv(number % 16, 4) AS stage, number % 4 AS tech,
    {start_s:Int64} + intDiv(txn * {span_s:Int64}, {txns:UInt64}) AS t0,
    cityHash64(txn) AS h,
    [0, 600 + h % 3000, 600 + h % 3000 + 300 + intDiv(h, 7) % 3000,
     600 + h % 3000 + 300 + intDiv(h, 7) % 3000 + 600 + intDiv(h, 11) % 14000][stage + 1] AS offset_s,
    ['case', 'credit', 'invoice', 'ledger'][stage + 1] AS etype,
    ['case.opened', 'credit.approved', 'invoice.issued', 'ledger.posted'][stage + 1] AS step,
    ['zendesk', 'billing', 'billing', 'sap'][stage + 1] AS system,
    ['CASE-', 'CR-', 'INV-', 'LED-'][stage + 1] AS prefix,
    ['', 'case', 'credit', 'invoice'][stage + 1] AS ptype,
    ['', 'CASE-', 'CR-', 'INV-'][stage + 1] AS pprefix,
    multiIf(stage != 3, 'ok', txn % 100 = 7, 'dead_letter', txn % 50 = 3, 'failed', 'ok') AS outcome,
    multiIf(outcome = 'dead_letter', 'tax_error', outcome = 'failed', 'timeout', '') AS category,
    ['emea', 'amer', 'apac'][h % 3 + 1] AS region,
    lower(hex(MD5(concat('t', toString(txn), '-', toString(stage))))) AS trace_id,
    lower(substring(hex(MD5(concat('s', toString(number)))), 1, 16)) AS span_id,
    lower(substring(hex(MD5(concat('s', toString(number - tech)))), 1, 16)) AS hop_span
SELECT
    fromUnixTimestamp64Milli((t0 + offset_s) * 1000 + tech * 40),
    trace_id, span_id, if(tech = 0, '', hop_span), '',
    if(tech = 0, step, ['', 'HTTP POST', 'SELECT', 'HTTP GET'][tech + 1]),
    if(tech = 0, 'Internal', 'Client'), concat(system, '-adapter'),
    map('service.name', concat(system, '-adapter'), 'deployment.environment', 'prod'),
    'ledgerline.bench', '1.0',
    if(tech = 0,
       map('correlation.id', concat('C-', toString(txn)), 'biz.flow', 'support_credit',
           'biz.entity.type', etype, 'biz.entity.id', concat(prefix, toString(txn)),
           'biz.parent.type', ptype, 'biz.parent.id', if(stage = 0, '', concat(pprefix, toString(txn))),
           'biz.step', step, 'biz.system', system, 'biz.outcome', outcome, 'biz.error.category', category,
           'biz.amount', toString(round(10 + h % 100000 / 100, 2)), 'biz.currency', 'EUR',
           'biz.idempotency_key', if(stage = 3, concat('post-INV-', toString(txn)), ''),
           'biz.region', region, 'biz.legal_entity', concat('LE-', toString(h % 7))),
       map('http.method', 'POST', 'http.status_code', '200', 'net.peer.name', 'erp.internal')),
    (50 + h % 400) * 1000000, if(outcome = 'ok' OR tech != 0, 'Ok', 'Error'), ''
FROM numbers({first:UInt64}, {count:UInt64})
"""

# The successful retry of every 20th posting that failed with a timeout first, for the
# transactions [txn_lo, txn_hi) (so a later load of other transactions adds only theirs).
_RETRIES = """
INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind,
    ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode,
    StatusMessage)
SELECT Timestamp + INTERVAL 15 MINUTE, TraceId, lower(substring(hex(MD5(concat('r', SpanId))), 1, 16)), '', '',
    SpanName, SpanKind, ServiceName, ResourceAttributes, ScopeName, ScopeVersion,
    mapUpdate(SpanAttributes, map('biz.outcome', 'ok', 'biz.error.category', '')), Duration, 'Ok', ''
FROM otel_traces
WHERE SpanName = 'ledger.posted' AND SpanAttributes['biz.outcome'] = 'failed'
    AND cityHash64(SpanAttributes['correlation.id']) % 4 != 0
    AND TXN >= {txn_lo:UInt64} AND TXN < {txn_hi:UInt64}
""".replace("TXN", TXN_OF.format(col="SpanAttributes['correlation.id']"))


# One batch journal (its own correlation ID) posting the invoices of the transactions
# [first, first + n) (by default the oldest 10,000): the stitching limits keep lookups
# around it bounded.
_JOURNAL = """
INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind,
    ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode,
    StatusMessage)
SELECT now64(9) - INTERVAL 1 HOUR, lower(hex(MD5('journal'))), lower(substring(hex(MD5('journal-span')), 1, 16)),
    '', '', 'ledger.posted', 'Internal', 'sap-adapter', map('service.name', 'sap-adapter'), 'ledgerline.bench', '1.0',
    map('correlation.id', 'J-BIG', 'biz.flow', 'erp_journal', 'biz.entity.type', 'ledger', 'biz.entity.id', 'JNL-BIG',
        'biz.parent.type', 'invoice',
        'biz.parent.id', toJSONString(arrayMap(i -> concat('INV-', toString(i + {first:UInt64})), range({n:UInt32}))),
        'biz.step', 'ledger.posted', 'biz.system', 'sap', 'biz.outcome', 'ok'),
    200000000, 'Ok', ''
"""


def journal_size(txns: int) -> int:
    """Transactions the big journal posts: 10,000, or half of them in a small store (the other
    half then measure lookups that do not stitch to it)."""
    return min(10_000, max(1, txns // 2))


@dataclass(frozen=True)
class History:
    """Where generated transactions lie: ``txns`` of them (the full size) from ``start_s``
    over ``span_s`` seconds, and the journal's invoices [journal_first, + journal_n)."""

    spans: int
    start_s: int
    span_s: int
    journal_first: int
    journal_n: int

    @property
    def txns(self) -> int:
        return max(1, self.spans // SPANS_PER_TXN)

    @classmethod
    def ending_now(cls, spans: int, days: float, journal_first: int = 0, journal_n: int = 0) -> History:
        span_s = int(days * 86400)
        start_s = int(time.time()) - span_s - 6 * 3600  # leave room for the last postings
        txns = max(1, spans // SPANS_PER_TXN)
        return cls(spans, start_s, span_s, journal_first, journal_n or journal_size(txns - journal_first))


def load_range(store: Store, history: History, first: int, count: int, chunk: int = 1_000_000) -> float:
    """Generate the spans [first, first + count) of ``history`` (plus their transactions'
    retries); return seconds."""
    started = time.monotonic()
    for at in range(first, first + count, chunk):
        store.command(
            _GENERATE,
            {
                "first": at,
                "count": min(chunk, first + count - at),
                "txns": history.txns,
                "start_s": history.start_s,
                "span_s": history.span_s,
            },
        )
        print(
            f"  loaded {min(at + chunk, first + count) - first:>11,} spans  {time.monotonic() - started:6.1f}s",
            flush=True,
        )
    txn_lo = first // SPANS_PER_TXN
    txn_hi = -(-(first + count) // SPANS_PER_TXN)  # a partial last transaction too
    store.command(_RETRIES, {"txn_lo": txn_lo, "txn_hi": txn_hi})
    return time.monotonic() - started


def load_journal(store: Store, history: History) -> None:
    store.command(_JOURNAL, {"first": history.journal_first, "n": history.journal_n})
