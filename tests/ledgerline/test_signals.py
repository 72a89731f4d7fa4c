"""SIGTERM and SIGINT stop every long-running command cleanly, whenever they come: the command
exits, its ports are free for the next start, and no child process is left (issue 28)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from bench.payloads import hop_request
from tests.processes import LEDGERLINE, Command, free_port, ledgerline_env, port_free, wait_http

pytestmark = pytest.mark.timeout(240)

STOPS = pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
SERVE = ("serve", "--http-port", "0", "--grpc-port", "0", "--api-port", "0")


def _assert_nothing_left(command: Command, ports: set[int]) -> None:
    assert ports and {p for p in ports if not port_free(p)} == set()
    assert command.leftovers() == []


@STOPS
def test_serve_stops_on_a_signal(tmp_path: Path, sig: int) -> None:
    serve = Command(*SERVE, env=ledgerline_env(tmp_path))
    try:
        serve.wait_for("Ctrl-C to stop")
        serve.signal(sig)
        assert serve.exit_code(30) == 0
        assert "stopped." in "".join(serve.stdout)
        _assert_nothing_left(serve, serve.ports())
    finally:
        serve.kill()


def _serve_on(tmp_path: Path, ports: list[int]) -> Command:
    http, grpc, api = (str(p) for p in ports)
    return Command("serve", "--http-port", http, "--grpc-port", grpc, "--api-port", api, env=ledgerline_env(tmp_path))


def test_serve_stopped_while_it_opens_the_store_exits_cleanly(tmp_path: Path) -> None:
    """A SIGTERM during start-up used to kill the process outright (exit -15)."""
    ports = [free_port() for _ in range(3)]
    serve = _serve_on(tmp_path, ports)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "clickhouse" / "status").exists():  # the engine is open, migrations run
            assert time.monotonic() < deadline and serve.process.poll() is None, serve.stderr
            time.sleep(0.01)
        serve.signal(signal.SIGTERM)
        assert serve.exit_code(30) == 128 + signal.SIGTERM
        assert serve.stderr == []
        _assert_nothing_left(serve, set(ports))
    finally:
        serve.kill()
    again = _serve_on(tmp_path, ports)  # the interrupted migrations are simply run again
    try:
        again.wait_for("Ctrl-C to stop")
        again.signal(signal.SIGTERM)
        assert again.exit_code(30) == 0
    finally:
        again.kill()


def test_serve_stopped_while_starting_seals_what_it_acknowledged(tmp_path: Path) -> None:
    """The collector listens first: a span it acknowledged before serving began is sealed on the way out."""
    ports = [free_port() for _ in range(3)]
    serve = _serve_on(tmp_path, ports)
    body = hop_request(1, seed=1).SerializeToString()
    try:
        deadline = time.monotonic() + 60
        while True:  # the first moment the collector acknowledges; the rest is still starting
            assert time.monotonic() < deadline and serve.process.poll() is None, serve.stderr
            try:
                answer = httpx.post(
                    f"http://127.0.0.1:{ports[0]}/v1/traces",
                    content=body,
                    headers={"content-type": "application/x-protobuf"},
                    timeout=10,
                )
                if answer.status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.01)
        serve.signal(signal.SIGTERM)
        assert serve.exit_code(30) in (0, 128 + signal.SIGTERM)  # 0 if serving had begun meanwhile
        assert "Traceback" not in "".join(serve.stderr)
        _assert_nothing_left(serve, set(ports))
    finally:
        serve.kill()
    verified = subprocess.run(
        [*LEDGERLINE, "verify", "--store"], env=ledgerline_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert verified.returncode == 0 and "1 hops recomputed" in verified.stdout, verified.stdout + verified.stderr


@STOPS
def test_demo_stops_its_dashboard_and_servers(tmp_path: Path, sig: int) -> None:
    dashboard, replays = free_port(), free_port()
    demo = Command(
        "demo",
        *("--http-port", "0", "--grpc-port", "0", "--api-port", "0", "--backfill", "10m", "--rate", "1"),
        *("--dashboard-port", str(dashboard), "--replay-port", str(replays)),
        env=ledgerline_env(tmp_path),
    )
    try:
        demo.wait_for("Ctrl-C to stop")
        wait_http(f"http://127.0.0.1:{dashboard}/_stcore/health")  # the streamlit child serves
        demo.signal(sig)
        assert demo.exit_code(90) == 0
        assert "stopped." in "".join(demo.stdout)
        _assert_nothing_left(demo, demo.ports() | {dashboard, replays})
    finally:
        demo.kill()


@STOPS
def test_simulate_stops_on_a_signal_and_summarises(tmp_path: Path, sig: int) -> None:
    replays = free_port()
    simulate = Command(
        "simulate",
        *("--count", "0", "--replay-port", str(replays), "--endpoint", f"http://127.0.0.1:{free_port()}/v1/traces"),
        env=ledgerline_env(tmp_path),
    )
    try:
        simulate.wait_for("answering replays")
        simulate.signal(sig)
        assert simulate.exit_code(30) == 0  # SIGTERM used to kill it without its summary
        assert "transactions" in "".join(simulate.stdout)
        _assert_nothing_left(simulate, {replays})
    finally:
        simulate.kill()
