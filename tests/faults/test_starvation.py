"""Hostile connections cannot starve the receiver: idle sockets and slow bodies."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest

from bench.payloads import hop_request
from collector.store import Store
from tests.conftest import start_collector

pytestmark = [pytest.mark.faults, pytest.mark.timeout(60)]
PB = {"content-type": "application/x-protobuf"}


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def test_300_idle_connections_starve_nothing_and_are_closed(store: Store) -> None:
    running = start_collector(store, header_timeout_s=2)
    port = running.http_port
    idle = [_connect(port) for _ in range(300)]
    try:
        time.sleep(0.2)  # all accepted by the server
        started = time.perf_counter()
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        body = hop_request(20, seed=1).SerializeToString()
        response = httpx.post(f"http://127.0.0.1:{port}/v1/traces", content=body, headers=PB, timeout=5)
        assert response.status_code == 200
        assert time.perf_counter() - started < 2.0
        assert store.query("SELECT count() FROM otel_traces") == [(20,)]
        # The head deadline closes every socket that never sent a request.
        time.sleep(2.5)
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


def _slow_sender(port: int, results: list[bytes], stop: threading.Event) -> None:
    sock = _connect(port)
    try:
        head = (
            "POST /v1/traces HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/x-protobuf\r\nContent-Length: 1000\r\n\r\n"
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
    running = start_collector(store, body_timeout_s=3)
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
                started = time.perf_counter()
                body = hop_request(50, seed=seed).SerializeToString()
                response = client.post(f"http://127.0.0.1:{port}/v1/traces", content=body, headers=PB)
                assert response.status_code == 200
                assert time.perf_counter() - started < 1.0
        for sender in senders:
            sender.join(10)
        assert len(results) == 10
        assert all(r.startswith(b"HTTP/1.1 408") and b"connection: close" in r.lower() for r in results), results[:1]
        assert store.query("SELECT count() FROM otel_traces") == [(150,)]
    finally:
        stop.set()
        running.stop()
