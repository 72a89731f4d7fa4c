"""An acknowledgement stays honest about time.

A span older than the raw retention would be acknowledged, then deleted at the next TTL
merge; one from a clock years ahead would outlive the retention. Both are rejected through
OTLP partial success, with the reason, alike over OTLP/HTTP (protobuf and JSON) and
OTLP/gRPC and with both decoders; the bounds follow the settings.
"""

from __future__ import annotations

import time

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from bench.payloads import hop_request, otlp_json
from collector.service import Collector
from collector.store import Store
from tests.conftest import start_collector

pytestmark = [pytest.mark.faults, pytest.mark.timeout(60)]
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
DAY_NS = 86_400 * 10**9
EXPECTED = "rejected 2 span(s): 1 end more than 86400 s in the future, 1 start older than the 30-day raw retention"


def _request(seed: int) -> tuple[ExportTraceServiceRequest, str]:
    """A fresh span, one 31 days old and one two years ahead; the fresh one's span ID."""
    now = time.time_ns()
    request = hop_request(3, seed=seed)
    spans = request.resource_spans[0].scope_spans[0].spans
    for span, start in zip(spans, (now - 10**9, now - 31 * DAY_NS, now + 730 * DAY_NS), strict=True):
        span.start_time_unix_nano, span.end_time_unix_nano = start, start + 10**6
    return request, spans[0].span_id.hex()


def _send_every_way(running: Collector) -> tuple[dict[str, tuple[int, str]], set[str]]:
    """(transport -> (rejected spans, message)) and the fresh span IDs sent."""
    url = f"http://127.0.0.1:{running.http_port}/v1/traces"
    answers: dict[str, tuple[int, str]] = {}
    fresh: set[str] = set()

    request, span_id = _request(1)
    fresh.add(span_id)
    response = httpx.post(url, content=request.SerializeToString(), headers={"content-type": "application/x-protobuf"})
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    answers["http protobuf"] = (partial.rejected_spans, partial.error_message)

    request, span_id = _request(2)
    fresh.add(span_id)
    response = httpx.post(url, content=otlp_json(request), headers={"content-type": "application/json"})
    assert response.status_code == 200
    document = response.json().get("partialSuccess", {})
    answers["http json"] = (int(document.get("rejectedSpans", 0)), document.get("errorMessage", ""))

    request, span_id = _request(3)
    fresh.add(span_id)
    with grpc.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel:
        raw = channel.unary_unary(EXPORT)(request.SerializeToString(), timeout=10)
    partial = ExportTraceServiceResponse.FromString(raw).partial_success
    answers["grpc"] = (partial.rejected_spans, partial.error_message)
    return answers, fresh


@pytest.mark.parametrize("decoder", ["clickhouse", "python"])
def test_spans_past_retention_or_far_ahead_are_rejected_with_the_reason(store: Store, decoder: str) -> None:
    running = start_collector(store, ingest_decoder=decoder)
    try:
        answers, fresh = _send_every_way(running)
    finally:
        running.stop()
    assert len(answers) == 3 and set(answers.values()) == {(2, EXPECTED)}
    assert {row[0] for row in store.query("SELECT SpanId FROM otel_traces")} == fresh


def test_the_bounds_follow_the_settings(store: Store) -> None:
    running = start_collector(store, retention_raw_days=60, max_future_s=3 * 366 * 86_400)
    try:
        answers, _ = _send_every_way(running)
    finally:
        running.stop()
    assert set(answers.values()) == {(0, "")}
    assert store.query("SELECT count() FROM otel_traces") == [(9,)]
