"""The collector's schema (migration versions 1-99): raw spans and the OTLP staging table.

- ``otel_traces``: raw spans, column for column what the OpenTelemetry Collector's
  ClickHouse exporter creates, plus a materialized ``CorrelationId``.
- ``otlp_ingest``: a Null-engine staging table; the collector inserts OTLP request bytes
  and ``otlp_ingest_mv`` flattens them into ``otel_traces`` (see collector/native.py).

Business hops and their keys are derived from ``otel_traces`` by lineage's migrations.
"""

from __future__ import annotations

from collector import native
from collector.store import Migration, queries
from collector.store.migrations import modify_codecs

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

# Migration 8: codecs chosen by measurement (docs/schema.md "Codecs"; docs/benchmarks.md). On the
# 2M-span bench store, merged, ZSTD(3) stores the attribute maps and scope columns in half to a
# fiftieth of ZSTD(1)'s bytes: those values repeat whole across spans, and level 1's match
# finder misses much of that repetition inside a block. The IDs stay ZSTD(1): random hex gains
# nothing from level 3 (the trace ID even grows). Only codecs change; stored parts are
# recompressed as they merge, not rewritten by the migration (a rewrite of the whole raw table
# at start-up would hold up ingest for as long as it ran; ``OPTIMIZE TABLE otel_traces FINAL``
# does it at once where wanted).
_ATTRIBUTES = "Map(LowCardinality(String), String)"
_MEASURED_CODECS = modify_codecs(
    "otel_traces",
    (
        ("ResourceAttributes", _ATTRIBUTES, "ZSTD(3)"),
        ("ScopeName", "String", "ZSTD(3)"),
        ("ScopeVersion", "String", "ZSTD(3)"),
        ("SpanAttributes", _ATTRIBUTES, "ZSTD(3)"),
    ),
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "otel_traces, exporter-compatible, with CorrelationId", (_OTEL_TRACES,)),
    Migration(5, "native OTLP protobuf staging", (native.STAGING_TABLE, native.STAGING_VIEW)),
    # The view of 5 gave a NULL ServiceName (refused insert) for a resource without
    # service.name. Run before anything ingests, like every migration.
    Migration(
        6,
        "native staging view over normalised requests",
        ("DROP VIEW IF EXISTS otlp_ingest_mv", native.STAGING_VIEW),
    ),
    # The store's own table (collector/store/lease.py): one alert evaluator and one sealer.
    Migration(7, "store: leases", (queries.CREATE_LEASES,)),
    Migration(8, "otel_traces: ZSTD(3) on the attribute maps and scope, by measurement", (_MEASURED_CODECS,)),
)
