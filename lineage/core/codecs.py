"""Lineage migrations 105 and 108: leaner derived tables.

Trace, span, correlation and entity IDs are hex or free-form strings: LZ4 (ClickHouse's default)
only finds repeats, while ZSTD also entropy-codes, and on random hex it halves the bytes (a
trace ID is 32 characters of 4 bits each). Times in the time-ordered table get a delta codec.
Only codecs change: no lookup or key changes, no rewrite now. New parts are written with the
new codecs and stored parts are recompressed as they merge (``OPTIMIZE TABLE ... FINAL`` does
it at once). In a cluster the change applies to the ``_local`` tables, which hold the data.

108 chooses each remaining codec by measurement (docs/schema.md "Codecs", docs/benchmarks.md):
every column of the 2M-span bench store was copied into scratch tables under candidate codecs and
merged, and a codec is taken only where it saves at least 5% of the column and 0.02 bytes a span.
Like 105 it changes codecs only, leaving stored parts to be recompressed as they merge: a rewrite
at start-up would hold up ingest and the API for as long as it ran over the whole history.
"""

from __future__ import annotations

from collector.store import Migration
from collector.store.migrations import modify_codecs

_ZSTD = "ZSTD(1)"
_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "hops": (
        ("CorrelationId", "String"),
        ("EntityId", "String"),
        ("ParentIds", "Array(String)"),
        ("IdempotencyKey", "String"),
        ("TraceId", "String"),
        ("SpanId", "String"),
        ("ParentSpanId", "String"),
        ("StatusMessage", "String"),
        ("LinkTraceIds", "Array(String)"),
        ("LinkSpanIds", "Array(String)"),
        ("Compensates", "String"),
    ),
    "hop_times": (
        ("StartTime", "DateTime64(9)"),
        ("EntityId", "String"),
        ("ParentIds", "Array(String)"),
        ("CorrelationId", "String"),
        ("TraceId", "String"),
        ("SpanId", "String"),
        ("StatusMessage", "String"),
    ),
    "entity_edges": (
        *tuple((c, "String") for c in ("KeyId", "ParentId", "ChildId", "CorrelationId", "TraceId", "SpanId")),
        ("SeenAt", "DateTime64(9)"),
    ),
    "hop_keys": (
        *tuple((c, "String") for c in ("KeyType", "KeyId", "CorrelationId", "EntityId", "TraceId", "SpanId")),
        ("StartTime", "DateTime64(9)"),
    ),
    "span_links": (
        *tuple(
            (c, "String")
            for c in ("KeyTraceId", "KeySpanId", "OtherTraceId", "OtherSpanId", "CorrelationId", "EntityId")
        ),
        ("SeenAt", "DateTime64(9)"),
    ),
}


def _alter(table: str) -> str:
    return modify_codecs(table, tuple((name, type_, _ZSTD) for name, type_ in _COLUMNS[table]))


LEANER = Migration(
    105,
    "ZSTD on the IDs and times of the derived tables; delta-coded end times",
    (
        *(_alter(table) for table in _COLUMNS),
        # ordered by step, then end time: consecutive end times differ little
        "ALTER TABLE hop_times MODIFY COLUMN EndTime DateTime64(9) CODEC(Delta(8), ZSTD(1))",
    ),
)

# 108, by what the measurement found (bytes a span, merged, before -> after):
# - times stored out of time order (key tables, hops by correlation ID): T64 drops the high bits
#   every value shares and beats Delta (hop_keys.StartTime 3.6 -> 2.8); hop_times.StartTime sits
#   in EndTime order, so a delta is small (1.0 -> 0.2);
# - free-form IDs that repeat in key order (entity and correlation IDs): ZSTD(3) finds more of
#   the repeats (entity_edges.KeyId 0.48 -> 0.26); random hex trace and span IDs stay ZSTD(1);
# - LowCardinality index columns, amounts, durations and aggregate states had ClickHouse's
#   default LZ4: ZSTD halves them (hop_rollup.Amount 1.30 -> 0.84, hops.Step 0.14 -> 0.07);
#   hops.DurationNs repeats per transaction, where plain ZSTD beats 105's T64 (0.66 -> 0.21).
_LC = "LowCardinality(String)"
_T64 = "T64, ZSTD(1)"


def _lc(*names: str) -> tuple[tuple[str, str, str], ...]:
    return tuple((name, _LC, "ZSTD(1)") for name in names)


def _zstd3(type_: str, *names: str) -> tuple[tuple[str, str, str], ...]:
    return tuple((name, type_, "ZSTD(3)") for name in names)


_MEASURED: dict[str, tuple[tuple[str, str, str], ...]] = {
    "hop_keys": (
        ("StartTime", "DateTime64(9)", _T64),
        *_zstd3("String", "KeyId", "CorrelationId", "EntityId"),
        *_lc("Step", "EntityType", "LegalEntity", "Region"),
    ),
    "entity_edges": (
        ("SeenAt", "DateTime64(9)", _T64),
        *_zstd3("String", "KeyId", "ParentId", "ChildId", "CorrelationId"),
        *_lc("LegalEntity", "Region"),
    ),
    "hops": (
        ("StartTime", "DateTime64(9)", _T64),
        ("EndTime", "DateTime64(9)", _T64),
        ("DurationNs", "UInt64", "ZSTD(1)"),
        ("Amount", "Nullable(Float64)", "ZSTD(3)"),
        *_zstd3("String", "CorrelationId", "EntityId"),
        *_lc("Step", "SpanName", "EntityType", "ParentType", "ServiceName", "System", "LegalEntity", "Region"),
    ),
    "hop_times": (
        ("StartTime", "DateTime64(9)", "Delta(8), ZSTD(1)"),
        ("Amount", "Nullable(Float64)", "ZSTD(1)"),
        *_zstd3("String", "CorrelationId", "EntityId"),
        ("ParentIds", "Array(String)", "ZSTD(3)"),
        *_lc("LegalEntity", "Region"),
    ),
    "hop_rollup": (
        ("Minute", "DateTime", "Delta(4), ZSTD(1)"),
        *_zstd3("UInt64", "Hops", "Amounts"),
        ("Amount", "Decimal(38, 9)", "ZSTD(1)"),
        ("Duration", "AggregateFunction(quantileDD(0.005, 0.5), UInt64)", "ZSTD(1)"),
        *_lc("LegalEntity", "Region"),
    ),
    "open_txns": (
        ("CorrelationId", "String", "ZSTD(3)"),
        ("FirstStart", "SimpleAggregateFunction(min, Int64)", "Delta(8), ZSTD(1)"),
        ("LastStart", "SimpleAggregateFunction(max, Int64)", _T64),
        ("OkStarts", "SimpleAggregateFunction(maxMap, Tuple(Array(String), Array(Int64)))", "ZSTD(3)"),
    ),
}

MEASURED = Migration(
    108,
    "codecs by measurement on the derived tables: T64 and delta times, ZSTD(3) repeated IDs, ZSTD over LZ4",
    tuple(modify_codecs(table, columns) for table, columns in _MEASURED.items()),
)
