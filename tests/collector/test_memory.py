"""The memory model (collector/memory.py) and what keeps the collector inside it (issue 28).

Every setting that scales memory is in the model; settings the limit cannot hold are refused
at start with one line; a request over the commit limits is split (ClickHouse's memory for
an insert grows with its spans and bytes); gRPC messages take the budgets HTTP bodies take.
Peak RSS against the model, under load, is tests/faults/test_memory.py and bench.faults.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from bench.payloads import hop_request
from collector.memory import DEFAULT_LIMIT_MB, MIB, check, container_limit_mb, footprint
from collector.settings import CollectorSettings
from collector.store import Store
from tests.conftest import start_collector

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parent.parent.parent
PB = {"content-type": "application/x-protobuf"}
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _need(**settings: object) -> int:
    return sum(footprint(CollectorSettings(**settings)).values())  # type: ignore[arg-type]


@pytest.mark.parametrize("url", [None, "http://clickhouse:8123"])
@pytest.mark.parametrize("decoder", ["clickhouse", "python"])
def test_the_defaults_fit_the_default_limit(url: str | None, decoder: str) -> None:
    check(CollectorSettings(clickhouse_url=url, ingest_decoder=decoder, memory_limit_mb=DEFAULT_LIMIT_MB))


@pytest.mark.parametrize(
    "name",
    [
        "max_body_bytes",
        "max_receiving_bytes",
        "max_queue_bytes",
        "max_batch_spans",
        "max_batch_bytes",
        "max_concurrent_requests",
        "max_concurrent_grpc",
    ],
)
def test_every_setting_that_scales_memory_is_in_the_model(name: str) -> None:
    value = CollectorSettings.model_fields[name].default
    assert _need(**{name: value * 2}) > _need()


def test_a_server_store_leaves_the_engine_terms_to_the_server() -> None:
    embedded, server = footprint(CollectorSettings()), footprint(CollectorSettings(clickhouse_url="http://ch:8123"))
    assert server["merges"] == server["commit"] == 0 < embedded["merges"]
    assert sum(server.values()) < 1024 * MIB


def test_the_limit_defaults_to_the_containers(tmp_path: Path) -> None:
    v2, v1 = tmp_path / "memory.max", tmp_path / "memory.limit_in_bytes"
    assert container_limit_mb((v2, v1)) is None  # neither file: not in a container
    v1.write_text("9223372036854771712\n")  # cgroup v1 without a limit
    assert container_limit_mb((v2, v1)) is None
    v2.write_text("max\n")
    assert container_limit_mb((v2, v1)) is None
    v2.write_text(f"{2 * 1024**3}\n")
    assert container_limit_mb((v2, v1)) == 2048


def _serve(data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERLINE_")}
    environ |= {"LEDGERLINE_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT), **env}
    command = [sys.executable, "-m", "ledgerline.cli", "serve", "--http-port", "0", "--grpc-port", "0"]
    return subprocess.run(
        [*command, "--api-port", "0"], capture_output=True, text=True, env=environ, cwd=ROOT, timeout=90
    )


@pytest.mark.parametrize(
    "env",
    [
        {"LEDGERLINE_MEMORY_LIMIT_MB": "1024"},  # the defaults need more with the embedded engine
        {"LEDGERLINE_MAX_BODY_BYTES": str(64 * MIB)},  # one 64 MiB JSON body decodes to ~770 MiB
        {"LEDGERLINE_MAX_BATCH_SPANS": "200000", "LEDGERLINE_MAX_BATCH_BYTES": str(64 * MIB)},
    ],
    ids=["small-limit", "large-bodies", "large-batches"],
)
def test_settings_the_limit_cannot_hold_are_refused_at_start(tmp_path: Path, env: dict[str, str]) -> None:
    try:
        result = _serve(tmp_path / "data", **env)
    except subprocess.TimeoutExpired:
        pytest.fail("serve started with settings the memory limit cannot hold")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ledgerline: error: LEDGERLINE_MEMORY_LIMIT_MB: "), lines
    assert "MiB" in lines[0]


@pytest.mark.parametrize("decoder", ["clickhouse", "python"])
def test_a_request_over_the_commit_limits_is_stored_whole_in_several_commits(store: Store, decoder: str) -> None:
    running = start_collector(store, max_batch_spans=1000, max_batch_bytes=256 * 1024, ingest_decoder=decoder)
    request = hop_request(4500, seed=21)
    try:
        response = httpx.post(
            f"http://127.0.0.1:{running.http_port}/v1/traces", content=request.SerializeToString(), headers=PB
        )
        metrics = httpx.get(f"http://127.0.0.1:{running.http_port}/metrics").text
    finally:
        running.stop()
    assert response.status_code == 200
    assert not ExportTraceServiceResponse.FromString(response.content).HasField("partial_success")
    rows = store.query("SELECT count(), uniqExact(SpanId), any(ServiceName), any(ScopeName) FROM otel_traces")
    assert rows == [(4500, 4500, "billing-adapter", "ledgerline.bench")]
    commits = next(line for line in metrics.splitlines() if line.startswith("ledgerline_batch_commit_seconds_count"))
    assert float(commits.split()[-1]) >= 5  # 4,500 spans of ~420 bytes: at most 1,000 and 256 KiB a commit


def test_grpc_messages_take_the_budgets_http_bodies_take(store: Store) -> None:
    running = start_collector(store, retry_after_s=1)
    budgets = running.app.state.budgets
    body = hop_request(3000, seed=22).SerializeToString()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel:
            export = channel.unary_unary(EXPORT)
            export(body, timeout=30)
            assert budgets["receiving"].peak >= len(body)
            assert budgets["decoding"].peak >= len(body) * 8  # protobuf's estimated decoding cost
            assert (budgets["receiving"].used, budgets["decoding"].used) == (0, 0)
            # A full receiving budget (and its one overdraft taken): the message is refused, retryably.
            receiving = budgets["receiving"]
            assert receiving.acquire_blocking(receiving.capacity, 1) and receiving.overdraw(1, "another request")
            with pytest.raises(grpc.RpcError) as raised:
                export(hop_request(5, seed=23).SerializeToString(), timeout=30)
            assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "google.rpc.retryinfo-bin" in dict(raised.value.trailing_metadata())
    finally:
        running.stop()
    assert store.query("SELECT count() FROM otel_traces") == [(3000,)]
