"""The two decoders agree, and OTLP/JSON IDs are hex, not base64."""

from __future__ import annotations

import json
from pathlib import Path

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

from bench.payloads import hop_request
from collector import native, otlp, queries
from collector.normalize import normalise
from collector.sinks import NativeSink, RowSink
from collector.store import Store
from collector.writer import Payload

VECTOR = Path(__file__).parent.parent / "fixtures" / "otlp" / "trace.json"


def test_json_ids_are_hex_where_the_generic_mapping_gets_them_wrong() -> None:
    ours = otlp.parse_json(VECTOR.read_bytes())
    span = ours.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id.hex() == "5b8efff798038103d269b633813fc60c"
    generic = json_format.Parse(VECTOR.read_text(), ExportTraceServiceRequest(), ignore_unknown_fields=True)
    assert generic.resource_spans[0].scope_spans[0].spans[0].trace_id != span.trace_id


def test_value_strings_match_the_exporter() -> None:
    assert otlp.value_str(AnyValue(int_value=-42)) == "-42"
    assert otlp.value_str(AnyValue(bool_value=True)) == "true"
    assert otlp.value_str(AnyValue(double_value=0.5)) == "0.5"
    arr = AnyValue(array_value=ArrayValue(values=[AnyValue(string_value="INV-1"), AnyValue(string_value="INV-2")]))
    assert otlp.value_str(arr) == '["INV-1","INV-2"]'
    kv = AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key="a", value=AnyValue(string_value="b"))]))
    assert otlp.value_str(kv) == '{"a":"b"}'


def test_varint_framing() -> None:
    assert native.varint(1) == b"\x01" and native.varint(300) == b"\xac\x02"
    assert native.frame([b"ab", b""]) == b"\x02ab\x00"


def _rich_request() -> ExportTraceServiceRequest:
    request = hop_request(30, seed=4)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.attributes.add(key="biz.parent.id").value.array_value.values.extend(
        [AnyValue(string_value="INV-1"), AnyValue(string_value="INV-2")]
    )
    span.attributes.add(key="retries").value.int_value = 3
    span.attributes.add(key="flag").value.bool_value = False
    event = span.events.add(name="posted", time_unix_nano=span.start_time_unix_nano + 5)
    event.attributes.add(key="n").value.int_value = 1
    link = span.links.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, trace_state="k=v")
    link.attributes.add(key="kind").value.string_value = "batch"
    span.status.code = 2
    span.status.message = "tax error"
    return request


def _snapshot(store: Store) -> list[str]:
    rows = store.query_dicts(
        f"SELECT {', '.join('`' + c + '`' for c in queries.OTEL_TRACES_COLUMNS)}, "
        "CorrelationId FROM otel_traces ORDER BY SpanId"
    )
    return [json.dumps(r, default=str, sort_keys=True) for r in rows]


def test_clickhouse_and_python_decoders_store_identical_rows(store: Store) -> None:
    body = _rich_request().SerializeToString()
    normalised = ExportTraceServiceRequest.FromString(body)
    assert normalise(normalised).accepted == 30  # what the collector stores
    NativeSink(store)([Payload(normalised.SerializeToString(), 30)])
    native_rows = _snapshot(store)
    store.command("TRUNCATE TABLE otel_traces")
    RowSink(store)([Payload(body, 30)])
    python_rows = _snapshot(store)
    assert len(native_rows) == 30
    assert native_rows == python_rows
