"""Schema the lineage service adds: the exception audit trail (migration versions 100+)."""

from __future__ import annotations

from collector.migrations import Migration

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

MIGRATIONS: tuple[Migration, ...] = (Migration(100, "lineage: exception actions audit trail", (_EXCEPTION_ACTIONS,)),)
