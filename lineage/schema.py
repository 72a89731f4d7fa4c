"""Schema the lineage service adds (migration versions 100+): the exception audit trail
and two time-ordered copies of hop data for the window aggregates."""

from __future__ import annotations

from collector.migrations import Migration
from lineage.replay.schema import MIGRATIONS as REPLAY_MIGRATIONS

# Append-only (plain MergeTree, never replaced): every acknowledgement and resolution is
# kept; the current state of an exception is its latest action.
_EXCEPTION_ACTIONS = """
CREATE TABLE IF NOT EXISTS exception_actions (
    ExceptionId String,
    Action Enum8('ack' = 1, 'resolve' = 2),
    Actor String,
    Note String,
    At DateTime64(3),
    EntityType LowCardinality(String),
    EntityId String,
    Step LowCardinality(String)
) ENGINE = MergeTree
ORDER BY (ExceptionId, At)
"""

# Hops again, ordered by step and end time: the time-window aggregates (posting latency,
# throughput) read one step's time range instead of scanning every hop; hops itself is
# ordered by correlation ID for lookups.
_HOP_TIMES = """
CREATE TABLE IF NOT EXISTS hop_times (
    Step LowCardinality(String),
    EndTime DateTime64(9),
    StartTime DateTime64(9),
    Flow LowCardinality(String),
    EntityType LowCardinality(String),
    EntityId String,
    ParentType LowCardinality(String),
    ParentIds Array(String),
    Outcome LowCardinality(String),
    System LowCardinality(String),
    Region LowCardinality(String),
    LegalEntity LowCardinality(String),
    CorrelationId String,
    TraceId String,
    SpanId String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(EndTime)
ORDER BY (Step, EndTime, TraceId, SpanId)
"""
_HOP_TIMES_COLS = (
    "Step, EndTime, StartTime, Flow, EntityType, EntityId, ParentType, ParentIds, Outcome, System, "
    "Region, LegalEntity, CorrelationId, TraceId, SpanId"
)
_HOP_TIMES_MV = (
    f"CREATE MATERIALIZED VIEW IF NOT EXISTS hop_times_mv TO hop_times AS SELECT {_HOP_TIMES_COLS} FROM hops"
)

# Failed, retried and dead-lettered attempts only, by time: exception queries start here,
# then read every attempt of those entities from hops by correlation ID.
_HOP_FAILURES = """
CREATE TABLE IF NOT EXISTS hop_failures (
    StartTime DateTime64(9),
    CorrelationId String,
    EntityType LowCardinality(String),
    EntityId String,
    Step LowCardinality(String),
    TraceId String,
    SpanId String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(StartTime)
ORDER BY (StartTime, TraceId, SpanId)
"""
_HOP_FAILURES_COLS = "StartTime, CorrelationId, EntityType, EntityId, Step, TraceId, SpanId"
_HOP_FAILURES_MV = (
    "CREATE MATERIALIZED VIEW IF NOT EXISTS hop_failures_mv TO hop_failures AS "
    f"SELECT {_HOP_FAILURES_COLS} FROM hops WHERE Outcome != 'ok'"
)

# Backfill of hops stored before this migration. Running it twice only adds duplicates
# that ReplacingMergeTree collapses (readers use FINAL or DISTINCT).
_BACKFILL = (
    f"INSERT INTO hop_times ({_HOP_TIMES_COLS}) SELECT {_HOP_TIMES_COLS} FROM hops",
    f"INSERT INTO hop_failures ({_HOP_FAILURES_COLS}) SELECT {_HOP_FAILURES_COLS} FROM hops WHERE Outcome != 'ok'",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(100, "lineage: exception actions audit trail", (_EXCEPTION_ACTIONS,)),
    Migration(
        101,
        "lineage: hops by step and time, failed attempts by time",
        (_HOP_TIMES, _HOP_TIMES_MV, _HOP_FAILURES, _HOP_FAILURES_MV, *_BACKFILL),
    ),
) + REPLAY_MIGRATIONS  # replay (170-179) is part of the lineage service
