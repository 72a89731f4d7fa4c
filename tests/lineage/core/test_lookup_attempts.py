"""A lookup reads a transaction's attempts and folds them (lineage/core/fold.py); one with more
attempts than it reads in one go is read again, limited to its first hops, with the same answer."""

from __future__ import annotations

from typing import Any

from collector.store import Store
from lineage.core.flows import load_flows
from lineage.core.scope import EVERYTHING
from lineage.core.service import Lineage
from lineage.replay.document import replays_of
from lineage.settings import LineageSettings
from lineage.sql import queries

# {retries} failed attempts of the case hop then its success, then one credit and one invoice hop.
_GENERATE = """
INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ServiceName, SpanName, SpanAttributes, Duration, StatusCode)
SELECT now64(9) - INTERVAL 1 HOUR + toIntervalMillisecond(number * 10),
    'trace-many', lower(hex(cityHash64(number))), 'svc', step,
    map('correlation.id', 'MANY', 'biz.flow', 'support_credit', 'biz.entity.type', etype,
        'biz.entity.id', concat(etype, '-1'), 'biz.step', step, 'biz.outcome', outcome,
        'biz.error.category', if(outcome = 'ok', '', 'timeout'), 'biz.system', 'sys')
    , toUInt64(1000000), if(outcome = 'ok', 'Ok', 'Error')
FROM (
    SELECT number, multiIf(number <= {retries:UInt64}, 0, number = {retries:UInt64} + 1, 1, 2) AS stage,
        ['case', 'credit', 'invoice'][stage + 1] AS etype,
        ['case.opened', 'credit.approved', 'invoice.issued'][stage + 1] AS step,
        if(number < {retries:UInt64}, 'failed', 'ok') AS outcome
    FROM numbers({retries:UInt64} + 3)
)
"""


def _lineage(store: Store, max_hops: int) -> Lineage:
    settings = LineageSettings(clickhouse_url=store.dsn, clickhouse_database=store.database, max_hops=max_hops)
    return Lineage(settings, store, load_flows(), replays=replays_of(store))


def _queries(store: Store) -> list[str]:
    seen: list[str] = []
    real = store.query

    def query(sql: str, parameters: dict[str, Any] | None = None, **kw: Any) -> Any:
        seen.append(sql)
        return real(sql, parameters, **kw)

    store.query = query  # type: ignore[method-assign]
    return seen


def test_a_hop_with_more_attempts_than_read_at_once_is_folded_whole(store: Store) -> None:
    store.command(_GENERATE, {"retries": 30})
    whole = _lineage(store, 100).transaction(EVERYTHING, "MANY")
    seen = _queries(store)
    cut = _lineage(store, 2).transaction(EVERYTHING, "MANY")  # reads 12 attempts at once, of 33
    assert whole is not None and cut is not None
    assert [s for s in seen if s in (queries.ATTEMPTS, queries.ATTEMPTS_OF_FIRST_HOPS)] == [
        queries.ATTEMPTS,
        queries.ATTEMPTS_OF_FIRST_HOPS,
    ]  # the attempts, then those of the first hops
    assert [h["entity_type"] for h in whole["hops"]] == ["case", "credit", "invoice"]
    assert not whole["hops_truncated"] and cut["hops_truncated"]
    assert cut["hops"] == whole["hops"][:2]
    case = cut["hops"][0]
    assert (case["attempts"], case["outcome"], len(case["attempt_list"])) == (31, "ok", 31)
    assert [e["state"] for e in cut["exceptions"]] == ["resolved"]
