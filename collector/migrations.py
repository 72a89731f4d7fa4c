"""Versioned, idempotent schema migrations.

Each migration is a version, a name and DDL statements that are safe to run twice
(``IF NOT EXISTS``), so a migration interrupted half-way is simply run again.
``schema_migrations`` records what was applied. ``ledgerline migrate`` runs them and
every service runs them on start.

Table layout (see README, "Store and schema"):

- ``otel_traces``: raw spans, column for column what the OpenTelemetry Collector's
  ClickHouse exporter creates, plus a materialized ``CorrelationId``.
- ``hops``: one row per business hop, derived by ``hops_mv``; ordered by correlation ID.
- ``entity_edges``: parent entity -> child entity, one row keyed on each end, so that
  walking up or down the lineage is a primary-key seek either way.
- ``hop_keys``: (entity type, entity id), (trace id, span id) and idempotency key -> hop,
  for lookups by business key and for resolving span links.
- ``span_links``: span links between hops, keyed on each end.
- ``otlp_ingest``: a Null-engine staging table; the collector inserts OTLP request bytes
  and ``otlp_ingest_mv`` flattens them into ``otel_traces`` (see collector/native.py).

The derived tables are ReplacingMergeTree keyed on the span, so a retried delivery of
the same span collapses; readers use ``FINAL`` or ``DISTINCT`` to see one row per span.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from collector import native, queries
from collector.store import Store

log = logging.getLogger(__name__)

# The correlation ID: the attribute, its underscore spelling, or W3C baggage carried as
# a span attribute named "baggage" (key1=v1;prop,key2=v2, values percent-encoded).
_CORRELATION_EXPR = r"""multiIf(
    SpanAttributes['correlation.id'] != '', SpanAttributes['correlation.id'],
    SpanAttributes['correlation_id'] != '', SpanAttributes['correlation_id'],
    decodeURLComponent(extract(SpanAttributes['baggage'], '(?:^|,)\\s*correlation\\.id\\s*=\\s*([^,;]*)')))"""

_OTEL_TRACES = f"""
CREATE TABLE IF NOT EXISTS otel_traces (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    CorrelationId String MATERIALIZED {_CORRELATION_EXPR} CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_correlation_id CorrelationId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1
"""

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


@dataclass(frozen=True)
class Migration:
    """One schema version: statements that are each safe to run again."""

    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "otel_traces, exporter-compatible, with CorrelationId", (_OTEL_TRACES,)),
    Migration(2, "hops derived by materialized view", (_HOPS, _HOPS_MV)),
    Migration(3, "entity edges, both directions", (_EDGES, _EDGES_MV)),
    Migration(4, "hop keys and span links", (_HOP_KEYS, _HOP_KEYS_MV, _SPAN_LINKS, _SPAN_LINKS_MV)),
    Migration(5, "native OTLP protobuf staging", (native.STAGING_TABLE, native.STAGING_VIEW)),
    # The view of 5 gave a NULL ServiceName (refused insert) for a resource without
    # service.name. Run before anything ingests, like every migration.
    Migration(
        6,
        "native staging view over normalised requests",
        ("DROP VIEW IF EXISTS otlp_ingest_mv", native.STAGING_VIEW),
    ),
)


def applied_versions(store: Store) -> set[int]:
    """Versions already recorded in ``schema_migrations``."""
    store.command(queries.CREATE_SCHEMA_MIGRATIONS)
    return {int(row[0]) for row in store.query(queries.SELECT_APPLIED_VERSIONS)}


def migrate(store: Store, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Apply every migration not yet recorded, in order; return the versions applied."""
    done = applied_versions(store)
    applied: list[int] = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in done:
            continue
        log.info("applying migration %d: %s", migration.version, migration.name)
        for statement in migration.statements:
            store.command(statement)
        store.insert("schema_migrations", [[migration.version, migration.name]], column_names=["version", "name"])
        applied.append(migration.version)
    return applied
