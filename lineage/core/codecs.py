"""Lineage migration 105: leaner derived tables.

Trace, span, correlation and entity IDs are hex or free-form strings: LZ4 (ClickHouse's default)
only finds repeats, while ZSTD also entropy-codes, and on random hex it halves the bytes (a
trace ID is 32 characters of 4 bits each). Times in the time-ordered table get a delta codec.
Only codecs change: no lookup or key changes, no rewrite now. New parts are written with the
new codecs and stored parts are recompressed as they merge (``OPTIMIZE TABLE ... FINAL`` does
it at once). In a cluster the change applies to the ``_local`` tables, which hold the data.
"""

from __future__ import annotations

from collector.store import Migration

_ZSTD = "CODEC(ZSTD(1))"
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
    columns = ", ".join(f"MODIFY COLUMN {name} {type_} {_ZSTD}" for name, type_ in _COLUMNS[table])
    return f"ALTER TABLE {table} {columns}"


LEANER = Migration(
    105,
    "ZSTD on the IDs and times of the derived tables; delta-coded end times",
    (
        *(_alter(table) for table in _COLUMNS),
        # ordered by step, then end time: consecutive end times differ little
        "ALTER TABLE hop_times MODIFY COLUMN EndTime DateTime64(9) CODEC(Delta(8), ZSTD(1))",
    ),
)
