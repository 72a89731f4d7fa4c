"""Health answers stay fast under a flood of large requests (issue 28).

The cause of slow answers was decoding: bodies up to 1 MiB were decoded on the event loop
itself, larger ones on a shared pool of up to 40 threads, all holding the GIL the loop
needs for every socket operation. Now one decode thread (at a lower OS priority) decodes
for both transports, never the loop; and ``/readyz`` answers from a ping made every second
on a thread of its own, never waiting for the store. The figures (p50/p95/max under 64
senders) are bench.faults' (bench/overload.py); here a generous functional bound only.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench.overload import health_round
from bench.payloads import hop_request
from collector.ingest import DECODE_THREADS
from collector.store import Store
from tests.conftest import start_collector

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]
PB = {"content-type": "application/x-protobuf"}
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def test_decoding_never_runs_on_the_event_loop_and_one_request_at_a_time(store: Store) -> None:
    running = start_collector(store)
    ingestor = running.ingestor
    lock = threading.Lock()
    state = {"now": 0, "most": 0}
    threads: set[str] = set()
    original = ingestor.received

    def received(request: ExportTraceServiceRequest) -> ExportTraceServiceRequest:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
            threads.add(threading.current_thread().name)
        try:
            threading.Event().wait(0.02)  # a decode that takes a while: overlaps show
            return original(request)
        finally:
            with lock:
                state["now"] -= 1

    ingestor.received = received  # type: ignore[method-assign]
    url = f"http://127.0.0.1:{running.http_port}/v1/traces"
    # Small bodies (decoded on the loop before), large ones (on the shared pool), and gRPC.
    bodies = [hop_request(n, seed=i).SerializeToString() for i, n in enumerate([20, 500, 3000] * 4)]
    answers: list[int] = []

    def post(body: bytes) -> None:
        answers.append(httpx.post(url, content=body, headers=PB, timeout=30).status_code)

    def export(body: bytes) -> None:
        with grpc.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel:
            channel.unary_unary(EXPORT)(body, timeout=30)
        answers.append(200)

    senders = [threading.Thread(target=post, args=(b,)) for b in bodies]
    senders += [threading.Thread(target=export, args=(b,)) for b in bodies[:3]]
    try:
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(60)
    finally:
        running.stop()
    assert answers == [200] * len(senders)
    assert threads == {"ledgerline-decode_0"}, threads  # not uvicorn's loop, not a shared pool
    assert state["most"] <= DECODE_THREADS


def test_healthz_answers_within_a_probe_timeout_under_a_flood(tmp_path: Path) -> None:
    # 64 senders of 4,000-span requests (1.7 MB each), as in issue 28: answers took up to 5 s.
    figures = health_round(tmp_path / "data", senders=64, batch=4000, seconds=12)
    assert figures["health_probes"] > 20
    assert figures["health_acknowledged_spans"] > 0
    assert figures["health_over_1s"] == figures["ready_over_1s"] == 0, figures  # Kubernetes' default probe timeout


def test_readiness_answers_from_the_last_ping_without_waiting_for_the_store(store: Store) -> None:
    running = start_collector(store)
    release = threading.Event()

    def hanging_ping() -> bool:  # the store stops answering (a query stuck behind a commit)
        release.wait(30)
        return True

    url = f"http://127.0.0.1:{running.http_port}/readyz"
    try:
        store.ping = hanging_ping  # type: ignore[method-assign]
        time.sleep(1.5)  # the next ping (every second) now hangs
        started = time.perf_counter()
        assert httpx.get(url, timeout=10).status_code == 200  # the last answer, a second old
        assert time.perf_counter() - started < 1.0  # (it waited 30 s for the store before)
        time.sleep(5)  # no answer for 5 s: not ready
        answer = httpx.get(url, timeout=10)
        assert answer.status_code == 503 and answer.headers["retry-after"] == "2"
    finally:
        release.set()
        del store.ping
        running.stop()
