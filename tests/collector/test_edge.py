"""The receiver's edge: every byte sent is stored or refused, never half-acknowledged.

Multi-member gzip, trailing garbage, valid-but-unusual OTLP (absent optional messages,
unknown fields), the accepted time range, deep JSON, malformed gRPC messages, client
disconnects, and gRPC's retryable answers (RetryInfo where every SDK looks for it).
"""

from __future__ import annotations

import copy
import gzip
import json
import logging
import socket
import threading
import time
from pathlib import Path

import grpc
import httpx
import pytest
from fastapi.testclient import TestClient
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace.export import SpanExportResult

from bench.payloads import hop_request
from collector.otlp import MAX_TIME_NS
from collector.store import Store
from ledgerline.server import compose_app
from lineage.api.app import create_app
from lineage.auth.settings import AuthSettings
from lineage.settings import LineageSettings
from tests.alerts.helpers import rules_file
from tests.alerts.helpers import service as alerts_service
from tests.collector.sdk import grpc_exporter, provider
from tests.conftest import RunningCollector, start_collector
from tests.lineage.auth.helpers import bearer, issue

pytestmark = pytest.mark.timeout(60)
PB = {"content-type": "application/x-protobuf"}
JS = {"content-type": "application/json"}
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _post(c: RunningCollector, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(c.http_endpoint, content=body, headers=headers, timeout=10)


def _count(c: RunningCollector) -> int:
    return int(c.store.query("SELECT count() FROM otel_traces")[0][0])


@pytest.mark.faults
def test_every_gzip_member_is_stored(collector: RunningCollector) -> None:
    first = hop_request(3, seed=1).SerializeToString()
    second = hop_request(4, seed=2).SerializeToString()
    # Concatenated protobuf messages merge: 7 spans in one request, split over two members.
    body = gzip.compress(first) + gzip.compress(second)
    response = _post(collector, body, PB | {"content-encoding": "gzip"})
    assert response.status_code == 200
    assert ExportTraceServiceResponse.FromString(response.content).partial_success.rejected_spans == 0
    assert _count(collector) == 7


@pytest.mark.faults
@pytest.mark.parametrize("tail", [b"garbage", b"\x1f\x8b\x08\x00broken", b"\x00"])
def test_trailing_bytes_after_gzip_are_refused(collector: RunningCollector, tail: bytes) -> None:
    body = gzip.compress(hop_request(3, seed=1).SerializeToString()) + tail
    response = _post(collector, body, PB | {"content-encoding": "gzip"})
    assert response.status_code == 400
    assert status_pb2.Status.FromString(response.content).message
    assert _count(collector) == 0


def _unusual() -> ExportTraceServiceRequest:
    request = hop_request(3, seed=4)
    rs = request.resource_spans[0]
    rs.ClearField("resource")  # optional in OTLP
    scope_spans = rs.scope_spans[0]
    scope_spans.ClearField("scope")
    span = scope_spans.spans[0]
    span.ClearField("status")
    span.attributes.add(key="no.value")  # a KeyValue without a value
    return request


@pytest.mark.parametrize("decoder", ["clickhouse", "python"])
def test_absent_optional_messages_and_unknown_fields_are_accepted(store: Store, decoder: str) -> None:
    running = start_collector(store, ingest_decoder=decoder)
    try:
        # Unknown fields a newer sender might add: a varint (field 99), a fixed64 (field 98).
        body = _unusual().SerializeToString() + b"\x98\x06\x2a" + b"\x91\x06" + bytes(8)
        response = httpx.post(f"http://127.0.0.1:{running.http_port}/v1/traces", content=body, headers=PB)
        assert response.status_code == 200, response.content
        rows = store.query(
            "SELECT ServiceName, ScopeName, StatusCode, SpanAttributes['no.value'] FROM otel_traces ORDER BY SpanId"
        )
        assert len(rows) == 3
        assert ("", "", "Unset", "") in rows
    finally:
        running.stop()


def _with_times(*times: tuple[int, int]) -> ExportTraceServiceRequest:
    request = hop_request(len(times), seed=5)
    for span, (start, end) in zip(request.resource_spans[0].scope_spans[0].spans, times, strict=True):
        span.start_time_unix_nano, span.end_time_unix_nano = start, end
    return request


def test_times_out_of_range_are_rejected_through_partial_success(store: Store) -> None:
    # Retention and the future bound as wide as they go: only the storable range is left
    # (tests/faults/test_ack_window.py covers the window).
    running = start_collector(store, retention_raw_days=200 * 366, max_future_s=300 * 366 * 86_400)
    ok = 1_700_000_000 * 10**9
    request = _with_times(
        (ok, ok + 1000),  # fine
        (2**63, 2**63 + 1),  # was stored as 1677-09-21
        (ok, 2**64 - 1),  # was a Duration of 1.8e19
        (ok, ok + 400 * 86_400 * 10**9),  # longer than a year
        (MAX_TIME_NS, MAX_TIME_NS),  # the last representable instant
    )
    try:
        response = _post(RunningCollector(running), request.SerializeToString(), PB)
    finally:
        running.stop()
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 3
    assert "time after 2262-04-11" in partial.error_message and "duration over 366 days" in partial.error_message
    rows = store.query("SELECT toYear(Timestamp), Duration FROM otel_traces ORDER BY Timestamp")
    assert rows == [(2023, 1000), (2262, 0)]


def test_deeply_nested_json_is_400(collector: RunningCollector) -> None:
    for depth in (100_000, 5_000):
        body = ('{"resourceSpans":' + "[" * depth + "]" * depth + "}").encode()
        response = _post(collector, body, JS)
        assert response.status_code == 400
        assert "nested" in response.json()["message"] or "valid" in response.json()["message"]


def test_malformed_grpc_message_is_invalid_argument_without_traceback(
    collector: RunningCollector, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO), grpc.insecure_channel(collector.grpc_target) as channel:
        export = channel.unary_unary(EXPORT)
        for _ in range(3):
            with pytest.raises(grpc.RpcError) as raised:
                export(b"\xff\xff\xff\xff", timeout=5)
            assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert len([r for r in caplog.records if "refused" in r.getMessage()]) == 3


def test_client_disconnect_mid_body_is_one_line_no_traceback(
    collector: RunningCollector, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        sock = socket.create_connection(("127.0.0.1", collector.collector.http_port), timeout=5)
        head = (
            f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: {PB['content-type']}\r\nContent-Length: 1000\r\n\r\n"
        )
        sock.sendall(head.encode() + b"\x0a" * 10)
        time.sleep(0.3)
        sock.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any("disconnected" in r.getMessage() for r in caplog.records):
            time.sleep(0.05)
    assert [r.getMessage() for r in caplog.records if "disconnected" in r.getMessage()]
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert httpx.get(f"{collector.http_url}/healthz").status_code == 200


def test_grpc_busy_carries_retry_info_where_every_sdk_looks(store: Store) -> None:
    running = start_collector(store, retry_after_s=1)
    try:
        running.grpc_service._limit = 0  # every export is over the limit
        with grpc.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel:
            export = channel.unary_unary(EXPORT)
            with pytest.raises(grpc.RpcError) as raised:
                export(hop_request(2, seed=1).SerializeToString(), timeout=5)
        error = raised.value
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        trailers = dict(error.trailing_metadata())
        # Go and Java read the status details; the Python exporter reads retryinfo-bin.
        status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
        assert status.code == code_pb2.RESOURCE_EXHAUSTED
        info = error_details_pb2.RetryInfo()
        assert status.details[0].Unpack(info) and info.retry_delay.seconds == 1
        assert error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"]).retry_delay.seconds == 1

        # The real SDK exporter waits the RetryInfo delay and retries until it gets in.
        reopen = threading.Timer(1.5, lambda: setattr(running.grpc_service, "_limit", 16))
        reopen.start()
        exporter = grpc_exporter(f"127.0.0.1:{running.grpc_port}", timeout=15)
        results: list[SpanExportResult] = []
        original = exporter.export
        exporter.export = lambda spans: results.append(original(spans)) or results[-1]  # type: ignore[method-assign]
        with provider(exporter) as tp, tp.get_tracer("t").start_as_current_span("busy-then-ok"):
            pass
        reopen.join()
        assert results == [SpanExportResult.SUCCESS]
        assert store.query("SELECT SpanName FROM otel_traces") == [("busy-then-ok",)]
        metrics = httpx.get(f"http://127.0.0.1:{running.http_port}/metrics").text
        assert 'ledgerline_export_requests_total{outcome="busy",transport="grpc"}' in metrics
    finally:
        running.stop()


def test_http_status_for_every_outcome_and_retry_after_on_every_503(store: Store) -> None:
    running = start_collector(store, max_concurrent_requests=1)
    url = f"http://127.0.0.1:{running.http_port}/v1/traces"
    try:
        # Hold the only export slot with a request whose body never completes.
        sock = socket.create_connection(("127.0.0.1", running.http_port), timeout=5)
        sock.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{"
        )
        time.sleep(0.3)
        busy = httpx.post(url, content=b"{}", headers=JS, timeout=5)
        assert busy.status_code == 503 and busy.headers["retry-after"] == "2"
        assert busy.json()["code"] == code_pb2.UNAVAILABLE
        assert httpx.get(f"http://127.0.0.1:{running.http_port}/healthz", timeout=5).status_code == 200
        sock.close()
        time.sleep(0.3)
        assert httpx.post(url, content=json.dumps({}).encode(), headers=JS, timeout=5).status_code == 200
    finally:
        running.stop()


def _gone(store: Store) -> Store:
    """The same store once its server has gone away: every connection is refused (real client)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = copy.copy(store)
    dead.dsn, dead.embedded = f"http://127.0.0.1:{port}", False
    dead._local, dead._clients, dead._lock = threading.local(), [], threading.Lock()
    return dead


def test_every_503_of_every_api_carries_retry_after(store: Store, tmp_path: Path) -> None:
    # The collector's and the API's readiness while the store is away.
    running = start_collector(_gone(store))
    try:
        ready = httpx.get(f"http://127.0.0.1:{running.http_port}/readyz", timeout=10)
        assert ready.status_code == 503 and ready.headers["retry-after"] == "2"
    finally:
        running.stop()
    with TestClient(create_app(LineageSettings(), _gone(store), AuthSettings(api_auth="off"))) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.headers["retry-after"] == "2"
    # The alerts routes while their table is offline (authentication still works).
    svc = alerts_service(store, rules_file(tmp_path, "rules: []"))
    store.command("DETACH TABLE alert_silences")
    try:
        with TestClient(compose_app(store, AuthSettings(), svc)) as client:
            client.headers.update(bearer(issue(store, "operator", "ops@corp.example")))
            silence = {"matchers": [{"name": "system", "value": "sap"}], "startsAt": "2026-01-01T00:00:00Z"}
            silence |= {"endsAt": "2099-01-01T00:00:00Z", "comment": "maintenance"}
            answers = [
                client.get("/api/v1/alerts"),
                client.get("/api/v1/silences"),
                client.post("/api/v1/silences", json=silence),
                client.delete("/api/v1/silences/x"),
            ]
        assert [(a.status_code, a.headers.get("retry-after")) for a in answers] == [(503, "2")] * 4
    finally:
        store.command("ATTACH TABLE alert_silences")
        svc.stop()
