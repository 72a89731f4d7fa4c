"""Nothing acknowledged goes missing: retries, store outages, backpressure, shutdown."""

from __future__ import annotations

import threading
import time

import grpc
import httpx
import pytest
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bench.payloads import hop_request
from collector.store import Store
from tests.collector.sdk import grpc_exporter, hop_attributes, http_exporter, provider
from tests.conftest import RunningCollector, start_collector

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _finished_spans(count: int):
    memory = InMemorySpanExporter()
    with provider(memory) as tp:
        tracer = tp.get_tracer("t")
        for i in range(count):
            attrs = hop_attributes("invoice", f"INV-{i}", "invoice.issued", f"C-{i}")
            with tracer.start_as_current_span("hop", attributes=attrs):
                pass
    return memory.get_finished_spans()


def test_a_retried_export_does_not_double_hops(collector: RunningCollector) -> None:
    spans = _finished_spans(10)
    exporter = http_exporter(collector.http_endpoint)
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    assert exporter.export(spans) == SpanExportResult.SUCCESS  # the client retries after a lost answer
    store = collector.store
    assert store.query("SELECT count() FROM otel_traces") == [(20,)]  # raw spans keep what arrived
    assert store.query("SELECT count() FROM hops FINAL") == [(10,)]
    assert store.query("SELECT count() FROM (SELECT DISTINCT * FROM hop_keys)") == [(20,)]  # entity + span key


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_store_outage_is_answered_retryably_and_the_sdk_retry_lands_the_data(store: Store, transport: str) -> None:
    running = start_collector(store, retry_after_s=1)
    try:
        store.command("DETACH TABLE otel_traces")
        restored = threading.Timer(1.5, lambda: store.command("ATTACH TABLE otel_traces"))
        restored.start()
        if transport == "http":
            exporter = http_exporter(f"http://127.0.0.1:{running.http_port}/v1/traces", timeout=15)
        else:
            exporter = grpc_exporter(f"127.0.0.1:{running.grpc_port}", timeout=15)
        started = time.monotonic()
        result = exporter.export(_finished_spans(5))
        restored.join()
        assert result == SpanExportResult.SUCCESS
        assert time.monotonic() - started >= 1.0  # it had to wait for the store
        metrics = httpx.get(f"http://127.0.0.1:{running.http_port}/metrics").text
        assert f'ledgerline_export_requests_total{{outcome="unavailable",transport="{transport}"}}' in metrics
    finally:
        running.stop()
    assert store.query("SELECT count() FROM otel_traces") == [(5,)]
    assert store.query("SELECT count() FROM hops FINAL") == [(5,)]


def test_grpc_requires_the_token_when_set(store: Store) -> None:
    running = start_collector(store, ingest_tokens="tok")
    try:
        target = f"127.0.0.1:{running.grpc_port}"
        denied = grpc_exporter(target, timeout=5).export(_finished_spans(1))
        assert denied == SpanExportResult.FAILURE
        allowed = grpc_exporter(target, headers={"authorization": "Bearer tok"}, timeout=5)
        assert allowed.export(_finished_spans(2)) == SpanExportResult.SUCCESS
        channel = grpc.insecure_channel(target)
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

        with pytest.raises(grpc.RpcError) as info:
            trace_service_pb2_grpc.TraceServiceStub(channel).Export(hop_request(1, seed=1), timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        channel.close()
    finally:
        running.stop()
    assert store.query("SELECT count() FROM otel_traces") == [(2,)]


def test_a_grpc_caller_giving_up_before_its_commit_leaves_ingest_working(store: Store) -> None:
    # The commit waits 3 s for company; the caller gives up after 0.5 s. Its export still
    # runs to its end (stored, not acknowledged) and the writer keeps committing for others.
    running = start_collector(store, batch_linger_ms=3000)
    target = f"127.0.0.1:{running.grpc_port}"
    try:
        with grpc.insecure_channel(target) as channel:
            export = channel.unary_unary(EXPORT)
            with pytest.raises(grpc.RpcError) as gave_up:
                export(hop_request(3, seed=31).SerializeToString(), timeout=0.5)
            assert gave_up.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            export(hop_request(4, seed=32).SerializeToString(), timeout=15)
        assert grpc_exporter(target, timeout=15).export(_finished_spans(2)) == SpanExportResult.SUCCESS
    finally:
        running.stop()
    assert store.query("SELECT count() FROM otel_traces") == [(9,)]


def test_full_queue_answers_429_with_retry_after(store: Store) -> None:
    running = start_collector(store, max_queue_spans=10, retry_after_s=3)
    gate = threading.Event()
    real_sink = running.writer._sink

    def gated(batch):  # hold the first commit so the queue stays full
        gate.wait(10)
        real_sink(batch)

    running.writer._sink = gated
    url = f"http://127.0.0.1:{running.http_port}/v1/traces"
    headers = {"content-type": "application/x-protobuf"}
    results: list[int] = []
    try:

        def post(seed: int) -> int:
            body = hop_request(8, seed=seed).SerializeToString()
            return httpx.post(url, content=body, headers=headers, timeout=20).status_code

        first = threading.Thread(target=lambda: results.append(post(1)))
        first.start()
        time.sleep(0.3)  # the first request now waits inside the gated commit
        # The batch being committed counts against the limit (only with nothing queued or
        # committing does a request get in whatever its size): 8 + 8 spans exceed 10.
        second = httpx.post(url, content=hop_request(8, seed=2).SerializeToString(), headers=headers, timeout=20)
        assert second.status_code == 429
        assert second.headers["retry-after"] == "3"
        gate.set()
        first.join(20)
        # Committed: the queue takes the retry.
        retried = httpx.post(url, content=hop_request(8, seed=2).SerializeToString(), headers=headers, timeout=20)
        assert retried.status_code == 200
    finally:
        gate.set()
        running.stop()
    assert results == [200]
    assert store.query("SELECT count() FROM otel_traces") == [(16,)]


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_stop_flushes_what_was_accepted(store: Store, transport: str) -> None:
    running = start_collector(store, batch_linger_ms=200)
    acknowledged: list[bool] = []

    def send(seed: int) -> None:
        body = hop_request(20, seed=seed).SerializeToString()
        if transport == "http":
            url = f"http://127.0.0.1:{running.http_port}/v1/traces"
            headers = {"content-type": "application/x-protobuf"}
            try:
                acknowledged.append(httpx.post(url, content=body, headers=headers, timeout=20).status_code == 200)
            except httpx.HTTPError:  # sent after the server stopped
                acknowledged.append(False)
            return
        with grpc.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel:
            try:
                channel.unary_unary(EXPORT)(body, timeout=20)
            except grpc.RpcError:
                acknowledged.append(False)
            else:
                acknowledged.append(True)

    threads = [threading.Thread(target=send, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    # Stop while requests are queued but not committed (linger 200 ms); wait for the first one
    # so a loaded machine does not turn this into a stop before any request arrived.
    deadline = time.monotonic() + 10
    while not running.metrics.registry.get_sample_value("ledgerline_spans_received_total", {"transport": transport}):
        assert time.monotonic() < deadline, "no request reached the collector"
        time.sleep(0.005)
    running.stop()
    for t in threads:
        t.join(20)
    accepted = acknowledged.count(True)
    assert accepted >= 1
    assert store.query("SELECT count() FROM otel_traces") == [(20 * accepted,)]


def test_many_concurrent_exports_queue_for_decoding_and_all_land(store: Store) -> None:
    running = start_collector(store, max_decoding_requests=2)
    url = f"http://127.0.0.1:{running.http_port}/v1/traces"
    statuses: list[int] = []
    lock = threading.Lock()

    def post(seed: int) -> None:
        body = hop_request(10, seed=seed).SerializeToString()
        code = httpx.post(url, content=body, headers={"content-type": "application/x-protobuf"}, timeout=30).status_code
        with lock:
            statuses.append(code)

    threads = [threading.Thread(target=post, args=(s,)) for s in range(24)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        running.stop()
    assert statuses == [200] * 24
    assert store.query("SELECT count() FROM otel_traces") == [(240,)]
