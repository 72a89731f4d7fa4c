"""SQL of the collector package. Values always go through parameter binding."""

from __future__ import annotations

# Column order of the rows the OTLP decoder produces for otel_traces.
OTEL_TRACES_COLUMNS: tuple[str, ...] = (
    "Timestamp",
    "TraceId",
    "SpanId",
    "ParentSpanId",
    "TraceState",
    "SpanName",
    "SpanKind",
    "ServiceName",
    "ResourceAttributes",
    "ScopeName",
    "ScopeVersion",
    "SpanAttributes",
    "Duration",
    "StatusCode",
    "StatusMessage",
    "Events.Timestamp",
    "Events.Name",
    "Events.Attributes",
    "Links.TraceId",
    "Links.SpanId",
    "Links.TraceState",
    "Links.Attributes",
)

OTEL_TRACES_TABLE = "otel_traces"

# Insert settings: a batch whose spans span many days must not fail as a whole.
INSERT_SETTINGS = {"max_partitions_per_insert_block": 0}
