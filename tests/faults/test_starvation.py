"""Hostile connections cannot starve the receiver: idle sockets and slow bodies."""

from __future__ import annotations

import gzip
import socket
import threading
import time
import zlib
from collections.abc import Iterator

import grpc
import httpx
import pytest

from bench.payloads import hop_request, json_body
from collector.store import Store
from tests.conftest import start_collector

pytestmark = [pytest.mark.faults, pytest.mark.timeout(60)]
PB = {"content-type": "application/x-protobuf"}
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def test_300_idle_connections_starve_nothing_and_are_closed(store: Store) -> None:
    running = start_collector(store, header_timeout_s=4)
    port = running.http_port
    idle = [_connect(port) for _ in range(300)]
    try:
        time.sleep(0.2)  # all accepted by the server
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        body = hop_request(20, seed=1).SerializeToString()
        response = httpx.post(f"http://127.0.0.1:{port}/v1/traces", content=body, headers=PB, timeout=5)
        assert response.status_code == 200
        # Served while all 300 are still held (an order, not a time: a busy machine is slower,
        # not starved): a receiver they starved would answer only once it had closed them.
        for sock in idle:
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)
        assert store.query("SELECT count() FROM otel_traces") == [(20,)]
        # The head deadline closes every socket that never sent a request.
        time.sleep(4.5)
        for sock in idle:
            sock.settimeout(2)
            assert sock.recv(1) == b""
    finally:
        for sock in idle:
            sock.close()
        running.stop()


def test_a_keep_alive_connection_gets_a_new_head_deadline(store: Store) -> None:
    running = start_collector(store, header_timeout_s=1)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{running.http_port}", timeout=5) as client:
            assert client.get("/healthz").status_code == 200
            assert client.get("/healthz").status_code == 200  # same connection, within the deadline
        sock = _connect(running.http_port)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while not answer.endswith(b'"ok"}'):
            answer += sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /heal")  # a head that never completes
        time.sleep(1.5)
        sock.settimeout(2)
        assert sock.recv(1) == b""
        sock.close()
    finally:
        running.stop()


def _slow_sender(port: int, results: list[bytes], stop: threading.Event, declared: int = 1000) -> None:
    sock = _connect(port)
    try:
        head = (
            "POST /v1/traces HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: application/x-protobuf\r\nContent-Length: {declared}\r\n\r\n"
        )
        sock.sendall(head.encode())
        sock.settimeout(0.05)
        answer = b""
        while not stop.is_set() and not answer:
            try:
                sock.sendall(b"\x0a")  # 1 byte per second
            except OSError:
                break
            deadline = time.monotonic() + 1
            while time.monotonic() < deadline and not answer:
                try:
                    answer = sock.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    break
        results.append(answer)
    finally:
        sock.close()


def test_slow_loris_senders_get_408_while_normal_exports_go_through(store: Store) -> None:
    running = start_collector(store, body_timeout_s=8)
    port = running.http_port
    stop = threading.Event()
    results: list[bytes] = []
    senders = [threading.Thread(target=_slow_sender, args=(port, results, stop), daemon=True) for _ in range(10)]
    for sender in senders:
        sender.start()
    try:
        time.sleep(1.2)  # every slow sender is mid-body
        with httpx.Client(timeout=5) as client:
            for seed in range(3):
                body = hop_request(50, seed=seed).SerializeToString()
                response = client.post(f"http://127.0.0.1:{port}/v1/traces", content=body, headers=PB)
                assert response.status_code == 200
        # All three answered before any slow sender's deadline (an order, not a time).
        assert results == []
        for sender in senders:
            sender.join(10)
        assert len(results) == 10
        assert all(r.startswith(b"HTTP/1.1 408") and b"connection: close" in r.lower() for r in results), results[:1]
        assert store.query("SELECT count() FROM otel_traces") == [(150,)]
    finally:
        stop.set()
        running.stop()


def test_slow_senders_declaring_large_bodies_hold_only_what_they_sent(store: Store) -> None:
    # Four bodies of 16 MiB declared fill the 64 MiB receiving budget if reserved up front.
    running = start_collector(store, body_timeout_s=6)
    port = running.http_port
    receiving = running.app.state.budgets["receiving"]
    stop = threading.Event()
    results: list[bytes] = []
    declared = 16 * 1024 * 1024
    senders = [
        threading.Thread(target=_slow_sender, args=(port, results, stop, declared), daemon=True) for _ in range(4)
    ]
    for sender in senders:
        sender.start()
    try:
        time.sleep(1.2)  # every slow sender is mid-body
        assert receiving.used < 100, receiving.used  # a few bytes each, not 16 MiB
        body = hop_request(20, seed=7).SerializeToString()
        response = httpx.post(f"http://127.0.0.1:{port}/v1/traces", content=body, headers=PB, timeout=5)
        assert response.status_code == 200
        assert results == []  # answered before any slow sender's deadline (an order, not a time)
        assert store.query("SELECT count() FROM otel_traces") == [(20,)]
        for sender in senders:
            sender.join(15)
        assert len(results) == 4 and all(r.startswith(b"HTTP/1.1 408") for r in results), results[:1]
        assert receiving.used == 0
    finally:
        stop.set()
        running.stop()


def test_the_commit_wait_holds_no_receiving_or_decoding_budget(store: Store) -> None:
    running = start_collector(store, batch_linger_ms=4000)
    budgets = running.app.state.budgets
    answers: list[int] = []
    body = hop_request(20, seed=8).SerializeToString()
    url = f"http://127.0.0.1:{running.http_port}/v1/traces"
    sender = threading.Thread(
        target=lambda: answers.append(httpx.post(url, content=body, headers=PB, timeout=10).status_code)
    )
    try:
        sender.start()

        # The decode thread queues the spans, then the event loop gives the budgets back: wait
        # for both, well inside the 4 s linger (long: the decode thread runs niced, and a busy
        # machine slows it), so the commit is still pending when we look.
        def held() -> tuple[int, int]:
            return budgets["receiving"].used, budgets["decoding"].used

        deadline = time.monotonic() + 3.0
        while (running.writer.queued_spans < 20 or held() != (0, 0)) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert running.writer.queued_spans == 20 and not answers  # queued, not yet committed
        assert held() == (0, 0)
        sender.join(10)
        assert answers == [200]
    finally:
        running.stop()


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_bodies_are_charged_their_real_decoded_size(store: Store, encoding: str) -> None:
    if encoding == "gzip":
        # 15 MB of spans and a 1-byte second member: the last ISIZE says 1.
        text, spans = json_body(15)
        body = gzip.compress(text, compresslevel=1) + gzip.compress(b" ")
    else:
        # 15 MB that deflates ~100:1 (far past any fixed ratio): spans, then whitespace.
        text, spans = json_body(1)
        text = text[:-1] + b" " * 14_000_000 + b"}"
        body = zlib.compress(text, 9)
    assert len(text) > 14_000_000
    running = start_collector(store, max_decoding_bytes=1 << 30)
    decoding = running.app.state.budgets["decoding"]
    try:
        headers = {"content-type": "application/json", "content-encoding": encoding}
        response = httpx.post(
            f"http://127.0.0.1:{running.http_port}/v1/traces", content=body, headers=headers, timeout=30
        )
        assert response.status_code == 200, response.text
        assert store.query("SELECT count() FROM otel_traces") == [(spans,)]
        assert decoding.peak >= len(text) * 12  # JSON's per-byte decoding cost, never less
        assert decoding.used == 0
    finally:
        running.stop()


def _stalled_calls(channels: list[grpc.Channel], count: int, release: threading.Event) -> list[grpc.Future]:
    """``count`` export calls spread over ``channels`` whose message comes only once ``release`` is set."""

    def stalled() -> Iterator[bytes]:
        release.wait(50)  # the message never comes while the test runs
        yield hop_request(1, seed=99).SerializeToString()

    return [channels[i % len(channels)].stream_unary(EXPORT).future(stalled(), timeout=50) for i in range(count)]


def test_slow_grpc_messages_are_refused_at_the_body_deadline(store: Store) -> None:
    # 8 exports in progress at most; 32 calls whose message does not come hold nothing meanwhile.
    running = start_collector(store, max_concurrent_grpc=8, body_timeout_s=2)
    release = threading.Event()
    channel = grpc.insecure_channel(f"127.0.0.1:{running.grpc_port}")
    try:
        slow = _stalled_calls([channel], 32, release)
        time.sleep(0.5)  # every slow call has reached the server
        started = time.perf_counter()
        body = hop_request(20, seed=9).SerializeToString()
        channel.unary_unary(EXPORT)(body, timeout=10)
        assert time.perf_counter() - started < 2 + 2.5
        assert store.query("SELECT count() FROM otel_traces") == [(20,)]
        # Each slow call gets the body deadline's status (collector/grpc_server.py CODES).
        errors = [call.exception() for call in slow]
        assert {error.code() for error in errors} == {grpc.StatusCode.DEADLINE_EXCEEDED}
        assert all("did not arrive within 2 s" in error.details() for error in errors)
        metrics = httpx.get(f"http://127.0.0.1:{running.http_port}/metrics").text
        assert 'ledgerline_export_requests_total{outcome="body_timeout",transport="grpc"} 32.0' in metrics
    finally:
        release.set()
        channel.close()
        running.stop()


def test_stalled_grpc_callers_do_not_hold_up_a_normal_export(store: Store) -> None:
    # 160 calls whose message never comes (4 connections, past one connection's 100 streams),
    # far past the export limit (8), over a long body deadline: none of them may keep a
    # normal client's export, on a connection of its own, from being acknowledged.
    running = start_collector(store, max_concurrent_grpc=8, body_timeout_s=40)
    release = threading.Event()
    target = f"127.0.0.1:{running.grpc_port}"
    own_connection = [("grpc.use_local_subchannel_pool", 1)]  # channels share one otherwise
    channels = [grpc.insecure_channel(target, options=own_connection) for _ in range(4)]
    normal = grpc.insecure_channel(target, options=own_connection)
    try:
        slow = _stalled_calls(channels, 160, release)
        time.sleep(1.0)  # every stalled call has reached the server
        export = normal.unary_unary(EXPORT)
        for seed in (10, 11, 12):  # more than one: no lucky free slot
            # Raises DEADLINE_EXCEEDED when the stalled calls hold the server.
            export(hop_request(20, seed=seed).SerializeToString(), timeout=15)
        assert store.query("SELECT count() FROM otel_traces") == [(60,)]
        assert not any(call.done() for call in slow)  # still pending: they were not simply dropped
        assert httpx.get(f"http://127.0.0.1:{running.http_port}/healthz", timeout=5).status_code == 200
    finally:
        release.set()
        for channel in [*channels, normal]:
            channel.close()
        running.stop()


def test_large_bodies_over_the_receiving_budget_all_get_through(store: Store) -> None:
    # Six 2 MB bodies at once into a 4 MiB budget: taken as bytes arrive, they would each
    # hold part of it and wait for the rest forever (until 503); one may overdraw, so all pass.
    # The deadline is long so that a slow or busy machine (the decode thread runs niced) only
    # makes the test slower: a deadlock still shows as 503s, never as all 200.
    running = start_collector(store, max_receiving_bytes=4 * 1024 * 1024, body_timeout_s=60)
    url = f"http://127.0.0.1:{running.http_port}/v1/traces"
    bodies = [hop_request(5000, seed=100 + i).SerializeToString() for i in range(6)]
    assert all(len(b) > 2_000_000 for b in bodies)
    answers: list[int] = []
    barrier = threading.Barrier(len(bodies))

    def send(body: bytes) -> None:
        barrier.wait()
        answers.append(httpx.post(url, content=body, headers=PB, timeout=80).status_code)

    senders = [threading.Thread(target=send, args=(b,)) for b in bodies]
    try:
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(90)
        assert answers == [200] * 6
        assert store.query("SELECT count() FROM otel_traces") == [(30_000,)]
        assert running.app.state.budgets["receiving"].used == 0
    finally:
        running.stop()


def test_compressed_bodies_together_over_the_decoding_budget_all_get_through(store: Store) -> None:
    # Each holds its inflate bound, then grows to 12x its real size: they cannot wait on each other.
    running = start_collector(store, max_decoding_bytes=8 * 1024 * 1024)
    url = f"http://127.0.0.1:{running.http_port}/v1/traces"
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    bodies = [json_body(0.5, seed=200 + i) for i in range(8)]
    answers: list[int] = []
    barrier = threading.Barrier(len(bodies))

    def send(body: bytes) -> None:
        barrier.wait()
        answers.append(httpx.post(url, content=gzip.compress(body), headers=headers, timeout=30).status_code)

    senders = [threading.Thread(target=send, args=(text,)) for text, _ in bodies]
    try:
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(30)
        assert answers == [200] * 8
        assert store.query("SELECT count() FROM otel_traces") == [(sum(n for _, n in bodies),)]
        assert running.app.state.budgets["decoding"].used == 0
    finally:
        running.stop()
