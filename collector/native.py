"""Native OTLP decoding inside ClickHouse: the schema, the staging table and its view.

The collector hands ClickHouse the request bytes it received (``Protobuf`` input format,
length-delimited messages, one per request). ``otlp_ingest`` is a Null-engine table: it
stores nothing, but its materialized view flattens every span into ``otel_traces``. The
schema is sent inline with each insert (``format_schema_source='string'``), so this works
the same against the embedded engine and a remote server, with no file to install.

The ``.proto`` below is a faithful subset of opentelemetry-proto's trace messages (same
field numbers). The collector stores only requests normalised by
:func:`collector.normalize.normalise`: invalid spans removed, absent messages present and
every attribute value a string, int or bool, so the view only turns scalars into strings
and both decoders store the same rows.
"""

from __future__ import annotations

OTLP_PROTO = """
syntax = "proto3";
package ledgerline.otlp;
message AnyScalar {
  oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3;
                double double_value = 4; bytes bytes_value = 7; }
}
message KeyScalar { string key = 1; AnyScalar value = 2; }
message ArrayValue { repeated AnyScalar values = 1; }
message KeyValueList { repeated KeyScalar values = 1; }
message AnyValue {
  oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3;
                double double_value = 4; ArrayValue array_value = 5; KeyValueList kvlist_value = 6;
                bytes bytes_value = 7; }
}
message KeyValue { string key = 1; AnyValue value = 2; }
message Resource { repeated KeyValue attributes = 1; }
message InstrumentationScope { string name = 1; string version = 2; }
message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; }
message Link { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; repeated KeyValue attributes = 4; }
message Status { string message = 2; int32 code = 3; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4;
  string name = 5; int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9; repeated Event events = 11; repeated Link links = 13; Status status = 15;
}
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
"""

INSERT_SETTINGS = {
    "format_schema_source": "string",
    "format_schema": OTLP_PROTO,
    "format_schema_message_name": "ExportTraceServiceRequest",
    "max_partitions_per_insert_block": 0,
    # hops' three downstream views run side by side instead of one after another.
    "parallel_view_processing": 1,
}

_SCALAR = (
    "Tuple(string_value Nullable(String), bool_value Nullable(Bool), int_value Nullable(Int64), "
    "double_value Nullable(Float64), bytes_value Nullable(String))"
)
_VALUE = (
    "Tuple(string_value Nullable(String), bool_value Nullable(Bool), int_value Nullable(Int64), "
    f"double_value Nullable(Float64), array_value Tuple(values Array({_SCALAR})), "
    f"kvlist_value Tuple(values Array(Tuple(key String, value {_SCALAR}))), bytes_value Nullable(String))"
)
_KVS = f"Array(Tuple(key String, value {_VALUE}))"

STAGING_TABLE = f"""
CREATE TABLE IF NOT EXISTS otlp_ingest (
    resource_spans Array(Tuple(
        resource Tuple(attributes {_KVS}),
        scope_spans Array(Tuple(
            scope Tuple(name String, version String),
            spans Array(Tuple(
                trace_id String, span_id String, trace_state String, parent_span_id String,
                name String, kind Int32, start_time_unix_nano UInt64, end_time_unix_nano UInt64,
                attributes {_KVS},
                events Array(Tuple(time_unix_nano UInt64, name String, attributes {_KVS})),
                links Array(Tuple(trace_id String, span_id String, trace_state String, attributes {_KVS})),
                status Tuple(message String, code Int32)))))))
) ENGINE = Null
"""


def _scalar(v: str) -> str:
    """A scalar AnyValue as the exporter's string (ints decimal, bools true/false)."""
    return (
        f"multiIf({v}.string_value IS NOT NULL, {v}.string_value, "
        f"{v}.int_value IS NOT NULL, toString({v}.int_value), "
        f"{v}.bool_value IS NOT NULL, if({v}.bool_value, 'true', 'false'), "
        f"{v}.double_value IS NOT NULL, toString({v}.double_value), "
        f"{v}.bytes_value IS NOT NULL, base64Encode({v}.bytes_value), '')"
    )


def _map(kvs: str) -> str:
    # Normalised values are scalars; ifNull because multiIf over Nullable fields is Nullable.
    return f"mapFromArrays(arrayMap(kv -> kv.key, {kvs}), arrayMap(kv -> ifNull({_scalar('kv.value')}, ''), {kvs}))"


# Normalisation already removed invalid spans; the filter repeats collector.otlp's rules
# (including the time range) so nothing unstorable reaches otel_traces by another path.
STAGING_VIEW = f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS otlp_ingest_mv TO otel_traces AS
SELECT
    fromUnixTimestamp64Nano(toInt64(sp.start_time_unix_nano)) AS Timestamp,
    lower(hex(sp.trace_id)) AS TraceId,
    lower(hex(sp.span_id)) AS SpanId,
    lower(hex(sp.parent_span_id)) AS ParentSpanId,
    sp.trace_state AS TraceState,
    sp.name AS SpanName,
    if(sp.kind BETWEEN 0 AND 5,
       ['Unspecified', 'Internal', 'Server', 'Client', 'Producer', 'Consumer'][sp.kind + 1],
       'Unspecified') AS SpanKind,
    ifNull(res['service.name'], '') AS ServiceName,
    res AS ResourceAttributes,
    ss.scope.name AS ScopeName,
    ss.scope.version AS ScopeVersion,
    {_map("sp.attributes")} AS SpanAttributes,
    sp.end_time_unix_nano - sp.start_time_unix_nano AS Duration,
    if(sp.status.code BETWEEN 0 AND 2, ['Unset', 'Ok', 'Error'][sp.status.code + 1], 'Unset') AS StatusCode,
    sp.status.message AS StatusMessage,
    arrayMap(e -> fromUnixTimestamp64Nano(toInt64(e.time_unix_nano)), sp.events) AS `Events.Timestamp`,
    arrayMap(e -> e.name, sp.events) AS `Events.Name`,
    arrayMap(e -> {_map("e.attributes")}, sp.events) AS `Events.Attributes`,
    arrayMap(l -> lower(hex(l.trace_id)), sp.links) AS `Links.TraceId`,
    arrayMap(l -> lower(hex(l.span_id)), sp.links) AS `Links.SpanId`,
    arrayMap(l -> l.trace_state, sp.links) AS `Links.TraceState`,
    arrayMap(l -> {_map("l.attributes")}, sp.links) AS `Links.Attributes`
FROM otlp_ingest
ARRAY JOIN resource_spans AS rs
ARRAY JOIN rs.scope_spans AS ss
ARRAY JOIN ss.spans AS sp
ARRAY JOIN [{_map("rs.resource.attributes")}] AS res
WHERE length(sp.trace_id) = 16 AND sp.trace_id != unhex('00000000000000000000000000000000')
  AND length(sp.span_id) = 8 AND sp.span_id != unhex('0000000000000000')
  AND length(sp.parent_span_id) IN (0, 8)
  AND sp.start_time_unix_nano > 0 AND sp.end_time_unix_nano > 0
  AND sp.end_time_unix_nano >= sp.start_time_unix_nano
  AND sp.end_time_unix_nano <= 9223372036854775807
  AND sp.end_time_unix_nano - sp.start_time_unix_nano <= 31622400000000000
"""


def varint(n: int) -> bytes:
    """Protobuf base-128 varint, the length prefix of the ``Protobuf`` input format."""
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def frame(bodies: list[bytes]) -> bytes:
    """Concatenate serialized requests as length-delimited messages: one insert, many requests."""
    return b"".join(varint(len(body)) + body for body in bodies)
