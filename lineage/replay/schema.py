"""Replay tables (migration versions 170-179).

``replays`` holds one row per version of a replay (ReplacingMergeTree on Version, read with
FINAL): a state change is a new row, never an update, so a crash leaves the last committed
version. ``replay_events`` is the append-only history. Migration 171 extends the exception
audit trail's Action enum with the replay entries; adding enum values is a metadata change
and old rows read as before.
"""

from __future__ import annotations

from collector.store import Migration

_REPLAYS = """
CREATE TABLE IF NOT EXISTS replays (
    Id String,
    Version UInt32,
    ExceptionId String,
    CorrelationId String,
    Flow LowCardinality(String),
    EntityType LowCardinality(String),
    EntityId String,
    Step LowCardinality(String),
    System LowCardinality(String),
    Category LowCardinality(String),
    Amount Nullable(Float64),
    Currency LowCardinality(String),
    Region LowCardinality(String),
    LegalEntity LowCardinality(String),
    State LowCardinality(String),
    RequestedBy String,
    ApprovedBy String,
    Reason String,
    Attempts UInt16,
    NextAttemptAt DateTime64(3),
    CreatedAt DateTime64(3),
    UpdatedAt DateTime64(3),
    LastError String,
    TraceId String,
    ConfirmedSpan String
) ENGINE = ReplacingMergeTree(Version)
ORDER BY Id
"""

_REPLAY_EVENTS = """
CREATE TABLE IF NOT EXISTS replay_events (
    ReplayId String,
    At DateTime64(3),
    Seq UInt32,
    State LowCardinality(String),
    Actor String,
    Note String
) ENGINE = MergeTree
ORDER BY (ReplayId, At, Seq)
"""

_ACTIONS = (
    "ALTER TABLE exception_actions MODIFY COLUMN Action Enum8('ack' = 1, 'resolve' = 2, "
    "'replay_requested' = 3, 'replay_approved' = 4, 'replay_cancelled' = 5, 'replay_failed' = 6)"
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(170, "replay: replays and their history", (_REPLAYS, _REPLAY_EVENTS)),
    Migration(171, "replay: replay entries in the exception audit trail", (_ACTIONS,)),
)
