"""The ``ledgerline`` command as a user runs it: serve, stop, migrate, refusals."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.collector.sdk import hop_attributes, http_exporter, provider

LEDGERLINE = [sys.executable, "-m", "ledgerline.cli"]


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERLINE_")}
    env.update({"LEDGERLINE_DATA_DIR": str(data_dir), **extra})
    return env


def _read_urls(process: subprocess.Popen[str], timeout: float = 60) -> dict[str, str]:
    urls: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        match = re.match(r"\s+(\w+)\s+(\S+)", line)
        if match:
            urls[match.group(1)] = match.group(2)
        if "serving" in line:
            return urls
    raise AssertionError(f"serve did not start; saw {urls}")


def test_serve_ingests_answers_lineage_and_stops_cleanly(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*LEDGERLINE, "serve", "--http-port", "0", "--grpc-port", "0", "--api-port", "0"],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        urls = _read_urls(process)
        with provider(http_exporter(urls["otlp_http"]), service="billing") as tp:
            attrs = hop_attributes("invoice", "INV-CLI-1", "invoice.issued", "CLI-1")
            with tp.get_tracer("t").start_as_current_span("issue", attributes=attrs):
                pass
        api = urls["api"].removesuffix("/docs")
        response = httpx.get(f"{api}/api/v1/transactions/CLI-1", timeout=10)
        assert response.status_code == 200
        assert [h["entity_id"] for h in response.json()["hops"]] == ["INV-CLI-1"]
        assert httpx.get(f"{api}/api/v1/transactions/NOPE", timeout=10).status_code == 404
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert "stopped." in out

    migrated = subprocess.run([*LEDGERLINE, "migrate"], env=_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert migrated.returncode == 0 and "applied: nothing" in migrated.stdout


def test_serve_refuses_a_public_bind_without_tokens(tmp_path: Path) -> None:
    result = subprocess.run(
        [*LEDGERLINE, "serve", "--host", "0.0.0.0"], env=_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without ingest tokens" in result.stderr


def test_serve_mounts_the_alerts_api(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*LEDGERLINE, "serve", "--http-port", "0", "--grpc-port", "0", "--api-port", "0"],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        api = _read_urls(process)["api"].removesuffix("/docs")
        alerts = httpx.get(f"{api}/api/v1/alerts", timeout=10)
        assert alerts.status_code == 200
        assert httpx.get(f"{api}/api/v1/silences", timeout=10).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    assert process.returncode == 0


BAD_CONFIGS = {
    "missing flows file": ({"LEDGERLINE_FLOWS": "/nonexistent/flows.yaml"}, r"^/nonexistent/flows.yaml: cannot read"),
    "bad rule": ({"LEDGERLINE_ALERT_RULES": "RULES"}, r"rules.yaml, line 3: rule 'X': kind: Input should be"),
    "bad receivers": (
        {"LEDGERLINE_ALERT_RECEIVERS": "receivers: [{name: x, type: nope}]"},
        r"receivers config \(inline\), line 1: receivers.0.type",
    ),
    "bad setting": (
        {"LEDGERLINE_MAX_BODY_BYTES": "abc"},
        r"^LEDGERLINE_MAX_BODY_BYTES: Input should be a valid integer",
    ),
    "bad flows line": ({"LEDGERLINE_FLOWS": "FLOWS"}, r"flows.yaml, line 4: "),
}


def test_bad_configuration_is_one_line_exit_2_and_nothing_listens(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: X\n    kind: bogus\n")
    flows = tmp_path / "flows.yaml"
    flows.write_text("flows:\n  f:\n    stages:\n      - {name: a, entity_type: a, step: a.done, sla: 4 hours}\n")
    for name, (extra, expected) in BAD_CONFIGS.items():
        env = {k: v.replace("RULES", str(rules)).replace("FLOWS", str(flows)) for k, v in extra.items()}
        result = subprocess.run(
            [*LEDGERLINE, "serve", "--http-port", "0", "--grpc-port", "0", "--api-port", "0"],
            env=_env(tmp_path / name.replace(" ", "_"), **env),
            capture_output=True,
            text=True,
            timeout=60,
        )
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2, (name, result.stderr)
        assert len(lines) == 1 and "Traceback" not in result.stderr, (name, result.stderr)
        assert re.search(expected, lines[0].removeprefix("ledgerline: error: ")), (name, lines[0])
        # Refused before the store was opened: no data directory was created.
        assert not (tmp_path / name.replace(" ", "_") / "clickhouse").exists(), name
