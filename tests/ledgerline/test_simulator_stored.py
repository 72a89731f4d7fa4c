"""The simulator against a running collector: what the store holds shows every fault."""

from __future__ import annotations

import math
import time

import pytest

from ledgerline.simulator import FAULT_KINDS, SimConfig, Summary, run_simulation
from tests.conftest import RunningCollector

SEC = 1_000_000_000
N = 300
RATE = 0.06
RATES = dict.fromkeys(FAULT_KINDS, RATE)

# One query per fault kind: how many transactions the store shows with it.
DETECT = {
    "erp_outage": """
        SELECT uniqExact(CorrelationId) FROM hops FINAL
        WHERE Outcome = 'retry' AND ErrorCategory = 'erp_unavailable' AND CorrelationId IN (
            SELECT CorrelationId FROM hops FINAL WHERE Step = 'ledger.posted' AND Outcome = 'ok')""",
    "tax_error": """
        SELECT uniqExact(CorrelationId) FROM hops FINAL
        WHERE Outcome = 'dead_letter' AND ErrorCategory = 'tax_error' AND EntityType = 'invoice'""",
    "unmatched_account": """
        SELECT uniqExact(CorrelationId) FROM hops FINAL
        WHERE Outcome = 'dead_letter' AND ErrorCategory = 'unmatched_account' AND EntityType = 'ledger'""",
    "late_posting": """
        SELECT count() FROM (
            SELECT CorrelationId,
                   maxIf(EndTime, Step = 'invoice.issued') AS issued,
                   minIf(StartTime, Step = 'ledger.posted' AND Outcome = 'ok') AS posted,
                   countIf(Step = 'ledger.posted' AND Outcome = 'ok') AS postings,
                   countIf(Step = 'invoice.issued') AS invoices
            FROM hops FINAL GROUP BY CorrelationId)
        WHERE postings > 0 AND invoices > 0 AND posted - issued > 4 * 3600""",
    "batch_journal": """
        SELECT sum(length(ParentIds)) FROM hops FINAL
        WHERE EntityType = 'ledger' AND ParentType = 'invoice' AND length(LinkTraceIds) = length(ParentIds)
          AND length(LinkTraceIds) > 0""",
    "missing_hop": """
        SELECT count() FROM (
            SELECT CorrelationId, countIf(EntityType = 'ledger') AS ledgers, countIf(Outcome != 'ok') AS bad,
                   anyIf(EntityId, EntityType = 'invoice') AS invoice
            FROM hops FINAL GROUP BY CorrelationId)
        WHERE ledgers = 0 AND bad = 0 AND invoice NOT IN (
            SELECT arrayJoin(ParentIds) FROM hops FINAL WHERE length(LinkTraceIds) > 0)""",
    "duplicate_posting": """
        SELECT count() FROM (
            SELECT IdempotencyKey FROM hops FINAL
            WHERE EntityType = 'ledger' AND Outcome = 'ok' AND IdempotencyKey != ''
            GROUP BY IdempotencyKey HAVING count() > 1)""",
    "amount_mismatch": """
        SELECT count() FROM (
            SELECT CorrelationId FROM hops FINAL WHERE Amount IS NOT NULL
            GROUP BY CorrelationId HAVING uniqExact(Amount, Currency) > 1)""",
}


def _scalar(collector: RunningCollector, sql: str) -> int:
    return int(collector.store.query(sql)[0][0] or 0)


def _simulate(config: SimConfig) -> tuple[Summary, int, int]:
    now = time.time_ns()
    summary = run_simulation(SimConfig(**{**config.__dict__, "now_ns": now}), out=None)
    return summary, now - int(config.backfill_s * SEC), now


def test_backfill_faults_are_found_in_the_store_at_their_rates(collector: RunningCollector) -> None:
    config = SimConfig(seed=11, backfill_s=86400, backfill_count=N, endpoint=collector.http_endpoint, fault_rates=RATES)
    summary, start, end = _simulate(config)
    assert summary.spans_failed == 0 and summary.transactions == N
    stored = _scalar(collector, "SELECT count() FROM otel_traces")
    assert stored == summary.spans_sent == summary.spans_emitted

    found = {kind: _scalar(collector, sql) for kind, sql in DETECT.items()}
    assert found == {k: summary.faults[k] for k in FAULT_KINDS}
    tolerance = 3.5 * math.sqrt(N * RATE * (1 - RATE))
    for kind, n in found.items():
        assert abs(n - N * RATE) <= tolerance, (kind, n)

    low, high = collector.store.query(
        "SELECT min(toUnixTimestamp64Nano(StartTime)), max(toUnixTimestamp64Nano(EndTime)) FROM hops FINAL"
    )[0]
    assert start <= low and high <= end
    services = {r[0] for r in collector.store.query("SELECT DISTINCT ServiceName FROM otel_traces")}
    assert services == {"support", "middleware", "billing", "erp"}
    regions, entities = collector.store.query("SELECT uniqExact(Region), uniqExact(LegalEntity) FROM hops FINAL")[0]
    assert regions >= 4 and entities == 5


@pytest.mark.parametrize("protocol", ["grpc"])
def test_grpc_transport_with_live_traffic(collector: RunningCollector, protocol: str) -> None:
    config = SimConfig(
        seed=12, rate=100, count=30, endpoint=collector.grpc_target, protocol=protocol, fault_rates=RATES
    )
    summary = run_simulation(config, out=None)
    assert summary.spans_failed == 0 and summary.transactions == 30
    assert _scalar(collector, "SELECT count() FROM otel_traces") == summary.spans_sent
    lag = _scalar(collector, "SELECT dateDiff('second', max(EndTime), now64(9)) FROM hops FINAL")
    assert lag < 60  # live transactions complete "now"
