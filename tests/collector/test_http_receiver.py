"""OTLP/HTTP behaviour at the protocol level: statuses, partial success, limits, tokens."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from bench.payloads import hop_request
from collector.store import Store
from tests.conftest import RunningCollector, start_collector

VECTOR = Path(__file__).parent.parent / "fixtures" / "otlp" / "trace.json"
PB = {"content-type": "application/x-protobuf"}
JS = {"content-type": "application/json"}


def _post(c: RunningCollector, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(c.http_endpoint, content=body, headers=headers, timeout=10)


def _vector() -> dict:
    """The official OTLP/JSON example, its 2018 times moved to now (older spans are past retention)."""
    document = json.loads(VECTOR.read_text())
    for span in document["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        shift = time.time_ns() - int(span["startTimeUnixNano"])
        for key in ("startTimeUnixNano", "endTimeUnixNano"):
            span[key] = str(int(span[key]) + shift)
    return document


def test_official_json_vector_keeps_hex_ids(collector: RunningCollector) -> None:
    response = _post(collector, json.dumps(_vector()).encode(), JS)
    assert response.status_code == 200 and response.json() == {}
    rows = collector.store.query("SELECT TraceId, SpanId, ParentSpanId, SpanKind, Timestamp, Duration FROM otel_traces")
    assert len(rows) == 1
    trace_id, span_id, parent, kind, _ts, duration = rows[0]
    assert (trace_id, span_id, parent) == ("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "eee19b7ec3c1b173")
    assert kind == "Server" and duration == 1_000_000_000


def test_gzip_protobuf_body_is_accepted(collector: RunningCollector) -> None:
    body = gzip.compress(hop_request(25, seed=3).SerializeToString())
    response = _post(collector, body, PB | {"content-encoding": "gzip"})
    assert response.status_code == 200
    assert ExportTraceServiceResponse.FromString(response.content).partial_success.rejected_spans == 0
    assert collector.store.query("SELECT count() FROM otel_traces") == [(25,)]
    assert collector.store.query("SELECT count() FROM hops FINAL") == [(25,)]


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"\xff\xff\xff garbage", PB, 400),
        (b"{not json", JS, 400),
        (b'{"resourceSpans": "nope"}', JS, 400),
        (b"\x1f\x8b broken gzip", PB | {"content-encoding": "gzip"}, 400),
        (b"{}", {"content-type": "text/plain"}, 415),
    ],
)
def test_malformed_bodies_get_a_clear_error(
    collector: RunningCollector, body: bytes, headers: dict, status: int
) -> None:
    response = _post(collector, body, headers)
    assert response.status_code == status
    if headers["content-type"] == "application/json":
        assert response.json()["message"]
    elif status == 400:
        assert status_pb2.Status.FromString(response.content).message
    assert collector.store.query("SELECT count() FROM otel_traces") == [(0,)]


def _with_bad_spans() -> ExportTraceServiceRequest:
    request = hop_request(5, seed=9)
    spans = request.resource_spans[0].scope_spans[0].spans
    spans[0].trace_id = b"\x00" * 16
    spans[1].span_id = b"\x01\x02"
    spans[2].start_time_unix_nano = 0
    return request


def test_partial_success_protobuf(collector: RunningCollector) -> None:
    response = _post(collector, _with_bad_spans().SerializeToString(), PB)
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 3
    assert "invalid trace_id" in partial.error_message and "invalid span_id" in partial.error_message
    assert "missing start_time_unix_nano" in partial.error_message
    assert collector.store.query("SELECT count() FROM otel_traces") == [(2,)]


def test_partial_success_json_bad_hex(collector: RunningCollector) -> None:
    document = _vector()
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    bad = dict(spans[0], traceId="zz-not-hex", spanId="EEE19B7EC3C1B175")
    spans.append(bad)
    response = _post(collector, json.dumps(document).encode(), JS)
    assert response.status_code == 200
    expected = {"rejectedSpans": "1", "errorMessage": "rejected 1 span(s): 1 invalid trace_id"}
    assert response.json() == {"partialSuccess": expected}
    assert collector.store.query("SELECT SpanId FROM otel_traces") == [("eee19b7ec3c1b174",)]


def test_oversized_bodies_get_413(store: Store) -> None:
    running = start_collector(store, max_body_bytes=2048)
    try:
        url = f"http://127.0.0.1:{running.http_port}/v1/traces"
        big = hop_request(50, seed=1).SerializeToString()
        assert len(big) > 2048
        assert httpx.post(url, content=big, headers=PB, timeout=10).status_code == 413
        bomb = gzip.compress(b"\x00" * 100_000)  # small on the wire, large unpacked
        assert len(bomb) < 2048
        response = httpx.post(url, content=bomb, headers=PB | {"content-encoding": "gzip"}, timeout=10)
        assert response.status_code == 413
    finally:
        running.stop()
    assert store.query("SELECT count() FROM otel_traces") == [(0,)]


def test_ingest_tokens_are_required_when_set(store: Store) -> None:
    running = start_collector(store, ingest_tokens="s3cret,other")
    try:
        url = f"http://127.0.0.1:{running.http_port}/v1/traces"
        body = hop_request(2, seed=2).SerializeToString()
        assert httpx.post(url, content=body, headers=PB, timeout=10).status_code == 401
        wrong = PB | {"authorization": "Bearer nope"}
        assert httpx.post(url, content=body, headers=wrong, timeout=10).status_code == 401
        right = PB | {"authorization": "Bearer other"}
        assert httpx.post(url, content=body, headers=right, timeout=10).status_code == 200
    finally:
        running.stop()
    assert store.query("SELECT count() FROM otel_traces") == [(2,)]


def test_health_ready_and_metrics(collector: RunningCollector) -> None:
    assert httpx.get(f"{collector.http_url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{collector.http_url}/readyz").status_code == 200
    _post(collector, _with_bad_spans().SerializeToString(), PB)
    text = httpx.get(f"{collector.http_url}/metrics").text
    assert 'ledgerline_spans_received_total{transport="http"} 5.0' in text
    assert 'ledgerline_spans_accepted_total{transport="http"} 2.0' in text
    assert 'ledgerline_spans_rejected_total{transport="http"} 3.0' in text
    assert "ledgerline_batch_commit_seconds_count 1.0" in text
    assert "ledgerline_queue_spans 0.0" in text
