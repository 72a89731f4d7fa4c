"""Window queries read their window, not history: every query a round of the default alert
rules and the lineage listings and metrics run is EXPLAINed (with ClickHouse's index
analysis) before and after four times as much older history is added, and the granules each
reads from each table must not grow with it."""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any

from alerts.evaluator import Evaluator
from alerts.persist import Persistence
from alerts.rules import load_rules
from collector.store import Store
from lineage.business import metrics
from lineage.core.flows import load_flows
from lineage.core.scope import EVERYTHING
from lineage.core.window import Window
from tests.lineage.conftest import make_lineage

DAY = 86_400_000

# Transactions of four hops (case, credit, invoice, ledger posting), one every {gap_ms}
# before {end_ms}, 1 in 50 postings failed; through the real materialized views.
_GENERATE = """
INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ServiceName, SpanName, SpanAttributes, Duration, StatusCode)
SELECT fromUnixTimestamp64Milli({end_ms:Int64} - txn * {gap_ms:Int64} + stage * 600000),
    lower(hex(cityHash64(txn, 't'))), lower(hex(cityHash64(txn, stage))), 'svc', step,
    map('correlation.id', concat('G', toString(txn)), 'biz.flow', 'support_credit', 'biz.entity.type', etype,
        'biz.entity.id', concat(etype, '-', toString(txn)), 'biz.step', step, 'biz.outcome', outcome,
        'biz.error.category', if(outcome = 'ok', '', 'timeout'), 'biz.region', 'emea', 'biz.legal_entity', 'LE-1',
        'biz.parent.type', ['', 'case', 'credit', 'invoice'][stage + 1],
        'biz.parent.id', if(stage = 0, '', concat(['', 'case', 'credit', 'invoice'][stage + 1], '-', toString(txn)))),
    toUInt64(1000000000), if(outcome = 'ok', 'Ok', 'Error')
FROM (
    SELECT {first:UInt64} + intDiv(number, 4) AS txn, number % 4 AS stage,
        ['case', 'credit', 'invoice', 'ledger'][stage + 1] AS etype,
        ['case.opened', 'credit.approved', 'invoice.issued', 'ledger.posted'][stage + 1] AS step,
        if(stage = 3 AND txn % 50 = 0, 'failed', 'ok') AS outcome
    FROM numbers({spans:UInt64})
)
"""
_TABLES = ("hop_times", "hop_failures", "hops", "hop_keys", "entity_edges")
_READ = re.compile(r"ReadFromMergeTree \(\w+\.(\w+)\)\n.*?Parts: \d+ \| Granules: (\d+)", re.S)


class Recorder:
    """Records every (sql, parameters) run on a store."""

    def __init__(self, store: Store) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._query, self._columns = store.query, store.query_columns
        store.query = self.query  # type: ignore[method-assign]
        store.query_columns = self.query_columns  # type: ignore[method-assign]

    def query(self, sql: str, parameters: dict[str, Any] | None = None, **kw: Any) -> Any:
        self.calls.append((sql, dict(parameters or {})))
        return self._query(sql, parameters, **kw)

    def query_columns(self, sql: str, parameters: dict[str, Any] | None = None, **kw: Any) -> Any:
        self.calls.append((sql, dict(parameters or {})))
        return self._columns(sql, parameters, **kw)


def _window_queries(store: Store, now_ms: int) -> list[tuple[str, dict[str, Any]]]:
    """Every query of a forced round of the default rules and of the lineage window routes."""
    recorder = Recorder(store)
    try:
        config = load_flows()
        Evaluator(Persistence(store), load_rules(), config, query_timeout_s=60).evaluate(now_ms, force=True)
        svc = make_lineage(store)
        flow = config.flow(None)
        day = Window(now_ms - DAY, now_ms, 100)
        svc.transactions(EVERYTHING, day, "stuck", "", "", "")
        svc.transactions(EVERYTHING, day, "", "", "", "")
        svc.sla_breaches(EVERYTHING, day, "", "")
        svc.exceptions(EVERYTHING, Window(now_ms - 7 * DAY, now_ms, 100), "open", "", "")
        metrics.exception_backlog(svc, EVERYTHING, Window(now_ms - DAY, now_ms, 5000), 300_000, 288)
        metrics.posting_latency(svc, EVERYTHING, flow, day, 300_000, "")
        metrics.throughput(svc, EVERYTHING, flow, day, 300_000, "")
    finally:
        del store.query, store.query_columns  # back to the class's methods
    calls = [(sql, p) for sql, p in recorder.calls if re.search(r"\bFROM (hop_times|hop_failures|hops)\b", sql)]
    assert len(calls) >= 8
    return calls


def _granules(store: Store, sql: str, params: dict[str, Any]) -> tuple[Counter[str], Counter[str]]:
    """Granules each table's reads select, and how many reads of it the plan has."""
    plan = "\n".join(str(r[0]) for r in store.query("EXPLAIN indexes = 1 " + sql, params))
    granules: Counter[str] = Counter()
    reads: Counter[str] = Counter()
    for table, n in _READ.findall(plan):
        if table in _TABLES:
            granules[table] += int(n)
            reads[table] += 1
    return granules, reads


def _total(store: Store, table: str) -> int:
    rows = store.query(
        "SELECT sum(marks) FROM system.parts WHERE active AND database = currentDatabase() AND table = {t:String}",
        {"t": table},
    )
    return int(rows[0][0])


def test_window_queries_read_the_same_granules_as_history_grows(store: Store) -> None:
    now_ms = time.time_ns() // 1_000_000
    # Eight days of recent history: one transaction every 10 s (about 280,000 hops) ...
    store.command(_GENERATE, {"end_ms": now_ms, "gap_ms": 10_000, "first": 0, "spans": 280_000})
    for table in _TABLES:
        store.command(f"OPTIMIZE TABLE {table} FINAL")
    before = {i: _granules(store, sql, p) for i, (sql, p) in enumerate(_window_queries(store, now_ms))}
    # ... then 32 more days before them, at the same rate.
    store.command(
        _GENERATE, {"end_ms": now_ms - 70_000 * 10_000, "gap_ms": 10_000, "first": 70_000, "spans": 1_120_000}
    )
    for table in _TABLES:
        store.command(f"OPTIMIZE TABLE {table} FINAL")
    assert _total(store, "hop_times") > 150
    after_calls = _window_queries(store, now_ms)
    assert len(after_calls) == len(before)
    for i, (sql, p) in enumerate(after_calls):
        after, reads = _granules(store, sql, p)
        for table, n in after.items():
            if table == "hops" and p.get("ids"):
                # Looked up by correlation ID (a page of a listing, or the amounts of the breaches
                # shown): a granule per ID at most, however long the history. On this small table
                # a page of 100 IDs may touch a third of its granules; the bound is the page size.
                assert n <= (len(p["ids"]) + 5) * reads[table], (table, n, len(p["ids"]), sql[:3000])
                continue
            # Each read's window may now start inside a granule of every step (hop_times is
            # ordered by step, then time) or straddle a partition: a few granules of slack per
            # read, far below the four-fold history.
            assert n <= before[i][0][table] + 5 * reads[table], (table, before[i][0][table], n, sql[:3000])
            # and each read selects a small part of the table (a 7-day window of 40 days at most,
            # plus the granule its window starts in: hop_failures holds six here, so a week
            # straddling a granule's edge reads two)
            assert (n - reads[table]) / reads[table] < _total(store, table) / 3, (table, n, reads[table], sql[:3000])
