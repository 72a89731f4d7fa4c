"""Lineage's schema: business hops derived from raw spans, their keys, the exception audit
trail and time-ordered copies of hop data for the window aggregates.

Versions 2-4 (hops, entity edges, hop keys and span links) were released under the
collector and keep their numbers, so existing stores are not migrated twice; new lineage
migrations use 100-199.

- ``hops``: one row per business hop, derived by ``hops_mv`` from spans with
  ``biz.entity.type`` (the ``biz.*`` conventions are parsed here and nowhere else); ordered
  by correlation ID.
- ``entity_edges``: parent entity -> child entity, one row keyed on each end, so that
  walking up or down the lineage is a primary-key seek either way.
- ``hop_keys``: (entity type, entity id), (trace id, span id) and idempotency key -> hop,
  for lookups by business key and for resolving span links.
- ``span_links``: span links between hops, keyed on each end.

The derived tables are ReplacingMergeTree keyed on the span, so a retried delivery of
the same span collapses; readers use ``FINAL`` or aggregates that ignore duplicates.
"""

from __future__ import annotations

from collector.store import Migration
from lineage.core.codecs import LEANER, MEASURED
from lineage.core.open_txns import MIGRATION as OPEN_TXNS
from lineage.core.rollups import MIGRATION as ROLLUP

_HOPS = """
CREATE TABLE IF NOT EXISTS hops (
    CorrelationId String,
    Flow LowCardinality(String),
    EntityType LowCardinality(String),
    EntityId String,
    ParentType LowCardinality(String),
    ParentIds Array(String),
    Step LowCardinality(String),
    System LowCardinality(String),
    Outcome LowCardinality(String),
    ErrorCategory LowCardinality(String),
    Amount Nullable(Float64),
    Currency LowCardinality(String),
    IdempotencyKey String,
    Region LowCardinality(String),
    LegalEntity LowCardinality(String),
    StartTime DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    EndTime DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    DurationNs UInt64 CODEC(T64, ZSTD(1)),
    TraceId String,
    SpanId String,
    ParentSpanId String,
    ServiceName LowCardinality(String),
    SpanName LowCardinality(String),
    StatusCode LowCardinality(String),
    StatusMessage String,
    LinkTraceIds Array(String),
    LinkSpanIds Array(String),
    IngestedAt DateTime64(3) DEFAULT now64(3),
    INDEX idx_start StartTime TYPE minmax GRANULARITY 1,
    INDEX idx_end EndTime TYPE minmax GRANULARITY 1
) ENGINE = ReplacingMergeTree(IngestedAt)
PARTITION BY toYYYYMM(StartTime)
ORDER BY (CorrelationId, TraceId, SpanId)
"""

# Attribute values arrive as the exporter's strings; arrays as JSON text.
_HOPS_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS hops_mv TO hops AS
SELECT
    CorrelationId,
    SpanAttributes['biz.flow'] AS Flow,
    SpanAttributes['biz.entity.type'] AS EntityType,
    SpanAttributes['biz.entity.id'] AS EntityId,
    SpanAttributes['biz.parent.type'] AS ParentType,
    arrayFilter(x -> x != '', if(startsWith(SpanAttributes['biz.parent.id'], '['),
        JSONExtract(SpanAttributes['biz.parent.id'], 'Array(String)'),
        [SpanAttributes['biz.parent.id']])) AS ParentIds,
    SpanAttributes['biz.step'] AS Step,
    if(SpanAttributes['biz.system'] != '', SpanAttributes['biz.system'], ServiceName) AS System,
    multiIf(SpanAttributes['biz.outcome'] != '', lower(SpanAttributes['biz.outcome']),
            StatusCode = 'Error', 'failed', 'ok') AS Outcome,
    SpanAttributes['biz.error.category'] AS ErrorCategory,
    toFloat64OrNull(SpanAttributes['biz.amount']) AS Amount,
    upper(SpanAttributes['biz.currency']) AS Currency,
    SpanAttributes['biz.idempotency_key'] AS IdempotencyKey,
    SpanAttributes['biz.region'] AS Region,
    SpanAttributes['biz.legal_entity'] AS LegalEntity,
    Timestamp AS StartTime,
    fromUnixTimestamp64Nano(toUnixTimestamp64Nano(Timestamp) + toInt64(Duration)) AS EndTime,
    Duration AS DurationNs,
    TraceId, SpanId, ParentSpanId, ServiceName, SpanName, StatusCode, StatusMessage,
    `Links.TraceId` AS LinkTraceIds,
    `Links.SpanId` AS LinkSpanIds,
    now64(3) AS IngestedAt
FROM otel_traces
WHERE SpanAttributes['biz.entity.type'] != ''
"""

_EDGES = """
CREATE TABLE IF NOT EXISTS entity_edges (
    KeyType LowCardinality(String),
    KeyId String,
    Direction Enum8('child' = 1, 'parent' = 2),
    ParentType LowCardinality(String),
    ParentId String,
    ChildType LowCardinality(String),
    ChildId String,
    CorrelationId String,
    Step LowCardinality(String),
    TraceId String,
    SpanId String,
    SeenAt DateTime64(9)
) ENGINE = ReplacingMergeTree
ORDER BY (KeyType, KeyId, Direction, ParentType, ParentId, ChildType, ChildId, TraceId, SpanId)
"""

# One row keyed on the parent (its neighbour is a child) and one keyed on the child.
_EDGES_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS entity_edges_mv TO entity_edges AS
SELECT
    if(side = 1, ParentType, EntityType) AS KeyType,
    if(side = 1, ParentId, EntityId) AS KeyId,
    CAST(side, 'Enum8(\\'child\\' = 1, \\'parent\\' = 2)') AS Direction,
    ParentType, ParentId, EntityType AS ChildType, EntityId AS ChildId,
    CorrelationId, Step, TraceId, SpanId, StartTime AS SeenAt
FROM hops
ARRAY JOIN ParentIds AS ParentId
ARRAY JOIN [1, 2] AS side
WHERE ParentType != ''
"""

_HOP_KEYS = """
CREATE TABLE IF NOT EXISTS hop_keys (
    KeyKind Enum8('entity' = 1, 'span' = 2, 'idempotency' = 3),
    KeyType String,
    KeyId String,
    CorrelationId String,
    EntityType LowCardinality(String),
    EntityId String,
    Step LowCardinality(String),
    TraceId String,
    SpanId String,
    StartTime DateTime64(9)
) ENGINE = ReplacingMergeTree
ORDER BY (KeyKind, KeyType, KeyId, CorrelationId, TraceId, SpanId)
"""

_HOP_KEYS_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS hop_keys_mv TO hop_keys AS
SELECT
    CAST(k.1, 'Enum8(\\'entity\\' = 1, \\'span\\' = 2, \\'idempotency\\' = 3)') AS KeyKind,
    k.2 AS KeyType, k.3 AS KeyId,
    CorrelationId, EntityType, EntityId, Step, TraceId, SpanId, StartTime
FROM hops
ARRAY JOIN arrayFilter(t -> t.3 != '', [
    ('entity', toString(EntityType), EntityId),
    ('span', TraceId, SpanId),
    ('idempotency', '', IdempotencyKey)]) AS k
"""

_SPAN_LINKS = """
CREATE TABLE IF NOT EXISTS span_links (
    KeyTraceId String,
    KeySpanId String,
    Direction Enum8('out' = 1, 'in' = 2),
    OtherTraceId String,
    OtherSpanId String,
    CorrelationId String,
    EntityType LowCardinality(String),
    EntityId String,
    SeenAt DateTime64(9)
) ENGINE = ReplacingMergeTree
ORDER BY (KeyTraceId, KeySpanId, Direction, OtherTraceId, OtherSpanId)
"""

# "out": the key span links to the other span; "in": the other span links to the key.
# CorrelationId/Entity* always describe the linking (source) hop.
_SPAN_LINKS_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS span_links_mv TO span_links AS
SELECT
    if(side = 1, TraceId, LinkTraceId) AS KeyTraceId,
    if(side = 1, SpanId, LinkSpanId) AS KeySpanId,
    CAST(side, 'Enum8(\\'out\\' = 1, \\'in\\' = 2)') AS Direction,
    if(side = 1, LinkTraceId, TraceId) AS OtherTraceId,
    if(side = 1, LinkSpanId, SpanId) AS OtherSpanId,
    CorrelationId, EntityType, EntityId, StartTime AS SeenAt
FROM hops
ARRAY JOIN LinkTraceIds AS LinkTraceId, LinkSpanIds AS LinkSpanId
ARRAY JOIN [1, 2] AS side
"""


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

# Version 102: the key tables carry the legal entity and region of the hop that produced each row,
# so a query limited to a data scope (lineage/core/scope.py) filters them in place instead of
# looking every row's hop up again. The views are recreated with the two columns and the rows
# already stored are derived again from hops (the duplicates collapse: the tables are
# ReplacingMergeTree keyed on the span, and readers use DISTINCT or GROUP BY).
_SCOPE_COLUMNS = ", ".join(f"ADD COLUMN IF NOT EXISTS {c} LowCardinality(String)" for c in ("LegalEntity", "Region"))
_EDGES_SELECT_V6 = """
SELECT
    if(side = 1, ParentType, EntityType) AS KeyType,
    if(side = 1, ParentId, EntityId) AS KeyId,
    CAST(side, 'Enum8(\\'child\\' = 1, \\'parent\\' = 2)') AS Direction,
    ParentType, ParentId, EntityType AS ChildType, EntityId AS ChildId,
    CorrelationId, Step, TraceId, SpanId, StartTime AS SeenAt, LegalEntity, Region
FROM hops
ARRAY JOIN ParentIds AS ParentId
ARRAY JOIN [1, 2] AS side
WHERE ParentType != ''
"""
_HOP_KEYS_SELECT_V6 = """
SELECT
    CAST(k.1, 'Enum8(\\'entity\\' = 1, \\'span\\' = 2, \\'idempotency\\' = 3)') AS KeyKind,
    k.2 AS KeyType, k.3 AS KeyId,
    CorrelationId, EntityType, EntityId, Step, TraceId, SpanId, StartTime, LegalEntity, Region
FROM hops
ARRAY JOIN arrayFilter(t -> t.3 != '', [
    ('entity', toString(EntityType), EntityId),
    ('span', TraceId, SpanId),
    ('idempotency', '', IdempotencyKey)]) AS k
"""
_SPAN_LINKS_SELECT_V6 = """
SELECT
    if(side = 1, TraceId, LinkTraceId) AS KeyTraceId,
    if(side = 1, SpanId, LinkSpanId) AS KeySpanId,
    CAST(side, 'Enum8(\\'out\\' = 1, \\'in\\' = 2)') AS Direction,
    if(side = 1, LinkTraceId, TraceId) AS OtherTraceId,
    if(side = 1, LinkSpanId, SpanId) AS OtherSpanId,
    CorrelationId, EntityType, EntityId, StartTime AS SeenAt, LegalEntity, Region
FROM hops
ARRAY JOIN LinkTraceIds AS LinkTraceId, LinkSpanIds AS LinkSpanId
ARRAY JOIN [1, 2] AS side
"""


def _rederive(table: str, view: str, select: str) -> tuple[str, ...]:
    """Add the scope columns to ``table``, recreate ``view`` with them, derive the stored rows again."""
    return (
        f"ALTER TABLE {table} {_SCOPE_COLUMNS}",
        f"DROP VIEW IF EXISTS {view}",
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {view} TO {table} AS {select}",
        f"INSERT INTO {table} {select}",
    )


# Version 103: compensations (``biz.compensates``, or ``biz.outcome=compensated`` for the
# hop's own entity) and the amounts the flow aggregates need on hop_times. ``Compensates`` is
# "type:id" of the reversed entity ('' for an ordinary hop). hops_mv and hop_times_mv are
# recreated; the hops of stored compensating spans are derived again from otel_traces (the
# new rows win: hops is replaced by IngestedAt) and hop_times is filled again from hops (no
# version column: the last insert wins; readers use FINAL). A compensation is not a failure:
# hop_failures_mv now skips it.
_COMPENSATES = """multiIf(
        SpanAttributes['biz.compensates'] = '' AND lower(SpanAttributes['biz.outcome']) = 'compensated',
        concat(SpanAttributes['biz.entity.type'], ':', SpanAttributes['biz.entity.id']),
        SpanAttributes['biz.compensates'] = '', '',
        position(SpanAttributes['biz.compensates'], ':') > 0, SpanAttributes['biz.compensates'],
        concat(SpanAttributes['biz.entity.type'], ':', SpanAttributes['biz.compensates']))"""
_HOPS_SELECT_V7 = _HOPS_MV.split(" AS\n", 1)[1].replace(
    "    now64(3) AS IngestedAt\n", f"    now64(3) AS IngestedAt,\n    {_COMPENSATES} AS Compensates\n"
)
_RECOMPENSATE = _HOPS_SELECT_V7.replace(
    "WHERE SpanAttributes['biz.entity.type'] != ''",
    "WHERE SpanAttributes['biz.entity.type'] != ''\n"
    "    AND (SpanAttributes['biz.compensates'] != '' OR lower(SpanAttributes['biz.outcome']) = 'compensated')",
)
_HOP_TIMES_COLS_V7 = f"{_HOP_TIMES_COLS}, Amount, Currency, Compensates"
_COMPENSATION = (
    "ALTER TABLE hops ADD COLUMN IF NOT EXISTS Compensates String",
    "ALTER TABLE hop_times ADD COLUMN IF NOT EXISTS Amount Nullable(Float64), "
    "ADD COLUMN IF NOT EXISTS Currency LowCardinality(String), ADD COLUMN IF NOT EXISTS Compensates String",
    "DROP VIEW IF EXISTS hop_times_mv",
    f"CREATE MATERIALIZED VIEW IF NOT EXISTS hop_times_mv TO hop_times AS SELECT {_HOP_TIMES_COLS_V7} FROM hops",
    "DROP VIEW IF EXISTS hop_failures_mv",
    "CREATE MATERIALIZED VIEW IF NOT EXISTS hop_failures_mv TO hop_failures AS "
    f"SELECT {_HOP_FAILURES_COLS} FROM hops WHERE Outcome NOT IN ('ok', 'compensated')",
    "DROP VIEW IF EXISTS hops_mv",
    f"CREATE MATERIALIZED VIEW IF NOT EXISTS hops_mv TO hops AS {_HOPS_SELECT_V7}",
    f"INSERT INTO hops {_RECOMPENSATE}",
    f"INSERT INTO hop_times ({_HOP_TIMES_COLS_V7}) SELECT {_HOP_TIMES_COLS_V7} FROM hops FINAL",
)

# Version 104: the error category and status message on hop_times, so a transaction's facts
# (lineage/core/domain.py ``assess``) and an exception's attempts (lineage/sql/exceptions.py) read a
# time window of hop_times instead of hops, which is ordered by correlation ID (a time filter
# there skips nothing). Only failed attempts carry a category or message: those rows are
# written again (the last insert wins in hop_times; readers use FINAL or duplicate-proof
# aggregates).
_HOP_TIMES_COLS_V8 = f"{_HOP_TIMES_COLS_V7}, ErrorCategory, StatusMessage"
_FAILURE_DETAIL = (
    "ALTER TABLE hop_times ADD COLUMN IF NOT EXISTS ErrorCategory LowCardinality(String), "
    "ADD COLUMN IF NOT EXISTS StatusMessage String",
    "DROP VIEW IF EXISTS hop_times_mv",
    f"CREATE MATERIALIZED VIEW IF NOT EXISTS hop_times_mv TO hop_times AS SELECT {_HOP_TIMES_COLS_V8} FROM hops",
    f"INSERT INTO hop_times ({_HOP_TIMES_COLS_V8}) "
    f"SELECT {_HOP_TIMES_COLS_V8} FROM hops FINAL WHERE ErrorCategory != '' OR StatusMessage != ''",
)

# What the current views derive (a later migration adding a hop column starts from these).
HOPS_SELECT = _HOPS_SELECT_V7
HOP_TIMES_COLUMNS = _HOP_TIMES_COLS_V8

MIGRATIONS: tuple[Migration, ...] = (
    Migration(2, "hops derived by materialized view", (_HOPS, _HOPS_MV)),
    Migration(3, "entity edges, both directions", (_EDGES, _EDGES_MV)),
    Migration(4, "hop keys and span links", (_HOP_KEYS, _HOP_KEYS_MV, _SPAN_LINKS, _SPAN_LINKS_MV)),
    Migration(100, "lineage: exception actions audit trail", (_EXCEPTION_ACTIONS,)),
    Migration(
        101,
        "lineage: hops by step and time, failed attempts by time",
        (_HOP_TIMES, _HOP_TIMES_MV, _HOP_FAILURES, _HOP_FAILURES_MV, *_BACKFILL),
    ),
    Migration(
        102,
        "legal entity and region on the key tables (data scope)",
        (
            *_rederive("entity_edges", "entity_edges_mv", _EDGES_SELECT_V6),
            *_rederive("hop_keys", "hop_keys_mv", _HOP_KEYS_SELECT_V6),
            *_rederive("span_links", "span_links_mv", _SPAN_LINKS_SELECT_V6),
        ),
    ),
    Migration(103, "compensations; amounts on hop_times", _COMPENSATION),
    Migration(104, "failure details on hop_times (facts and exceptions read a time window)", _FAILURE_DETAIL),
    LEANER,
    ROLLUP,
    OPEN_TXNS,
    MEASURED,
)
