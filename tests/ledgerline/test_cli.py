"""The ``ledgerline`` command as a user runs it: serve, stop, migrate, refusals."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.collector.sdk import hop_attributes, http_exporter, provider

LEDGERLINE = [sys.executable, "-m", "ledgerline.cli"]


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERLINE_")}
    env.update({"LEDGERLINE_DATA_DIR": str(data_dir), **extra})
    return env


def _read_urls(process: subprocess.Popen[str], timeout: float = 60, seen: list[str] | None = None) -> dict[str, str]:
    urls: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if seen is not None:
            seen.append(line)
        match = re.match(r"\s+(\w+)\s+(\S+)", line)
        if match:
            urls[match.group(1)] = match.group(2)
        if "Ctrl-C to stop" in line:
            return urls
    raise AssertionError(f"serve did not start; saw {urls}")


def _token(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LEDGERLINE, "token", *args], env=_env(data_dir, **env), capture_output=True, text=True, timeout=60
    )


def test_serve_ingests_answers_lineage_and_stops_cleanly(tmp_path: Path) -> None:
    created = _token(tmp_path, "create", "--subject", "root@corp.example", "--role", "admin", "--json")
    assert created.returncode == 0, created.stderr
    admin = {"Authorization": f"Bearer {json.loads(created.stdout)['token']}"}
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
        response = httpx.get(f"{api}/api/v1/transactions/CLI-1", headers=admin, timeout=10)
        assert response.status_code == 200
        assert [h["entity_id"] for h in response.json()["hops"]] == ["INV-CLI-1"]
        assert httpx.get(f"{api}/api/v1/transactions/NOPE", headers=admin, timeout=10).status_code == 404
        assert httpx.get(f"{api}/api/v1/transactions/CLI-1", timeout=10).status_code == 401
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
        env=_env(tmp_path, LEDGERLINE_API_AUTH="off"),
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


def test_token_commands_beside_a_running_serve(tmp_path: Path) -> None:
    created = _token(tmp_path, "create", "--subject", "root@corp.example", "--role", "admin")
    assert created.returncode == 0 and created.stdout.startswith("llt_") and "shown only now" in created.stderr
    admin = created.stdout.strip()
    process = subprocess.Popen(
        [*LEDGERLINE, "serve", "--http-port", "0", "--grpc-port", "0", "--api-port", "0"],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        api = _read_urls(process)["api"].removesuffix("/docs")
        # serve holds the embedded store: without a token the command says who holds it and what to do.
        held = _token(tmp_path, "list", "--api", api)
        assert held.returncode == 2 and len(held.stderr.splitlines()) == 1
        assert f"held by process {process.pid} (ledgerline serve)" in held.stderr and "--token" in held.stderr
        made = _token(
            tmp_path,
            "create",
            "--subject",
            "v@corp.example",
            "--role",
            "viewer",
            "--legal-entity",
            "LE-1",
            "--legal-entity",
            "LE-2",
            "--region",
            "emea",
            "--expires",
            "12h",
            "--json",
            "--api",
            api,
            LEDGERLINE_API_TOKEN=admin,
        )
        viewer = json.loads(made.stdout)
        assert (viewer["legal_entities"], viewer["regions"]) == (["LE-1", "LE-2"], ["emea"])
        lifetime = datetime.fromisoformat(viewer["expires_at"]) - datetime.now(UTC)
        assert timedelta(hours=11, minutes=58) < lifetime <= timedelta(hours=12)
        # A short-lived token works, then is refused once expired (the server checks, not the CLI).
        short = _token(tmp_path, "create", "--subject", "s@corp.example", "--role", "viewer", "--expires", "2s",
                       "--api", api, "--token", admin)  # fmt: skip
        short_made = time.monotonic()
        short_headers = {"Authorization": f"Bearer {short.stdout.strip()}"}
        assert httpx.get(f"{api}/api/v1/whoami", headers=short_headers, timeout=10).status_code == 200
        bad = _token(tmp_path, "create", "--subject", "x", "--role", "viewer", "--expires", "0s", "--token", admin)
        assert bad.returncode == 2 and "positive duration" in bad.stderr and "Traceback" not in bad.stderr
        listed = _token(tmp_path, "list", "--json", "--api", api, "--token", admin)
        assert {t["subject"] for t in json.loads(listed.stdout)} == {
            "root@corp.example",
            "v@corp.example",
            "s@corp.example",
        }
        assert viewer["token"] not in listed.stdout and "secret" not in listed.stdout.lower()
        headers = {"Authorization": f"Bearer {viewer['token']}"}
        me = httpx.get(f"{api}/api/v1/whoami", headers=headers, timeout=10).json()
        assert (me["role"], me["scope"]) == ("viewer", {"legal_entities": ["LE-1", "LE-2"], "regions": ["emea"]})
        time.sleep(max(0.0, 2.5 - (time.monotonic() - short_made)))  # past its expiry (checked on every request)
        expired = httpx.get(f"{api}/api/v1/whoami", headers=short_headers, timeout=10)
        assert expired.status_code == 401 and "expired" in expired.json()["detail"]
        revoked = _token(tmp_path, "revoke", viewer["id"], "--api", api, "--token", admin)
        assert revoked.returncode == 0 and f"revoked {viewer['id']}" in revoked.stdout
        assert httpx.get(f"{api}/api/v1/whoami", headers=headers, timeout=10).status_code == 401
        assert _token(tmp_path, "revoke", "0123456789abcdef", "--api", api, "--token", admin).returncode == 1
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    assert process.returncode == 0
    listed = _token(tmp_path, "list")  # serve stopped: the store opens directly again
    assert listed.returncode == 0 and "revoked" in listed.stdout and "root@corp.example" in listed.stdout
    assert "scope=LE-1,LE-2,emea" in listed.stdout and "expired" in listed.stdout
    # Directly on the store: scope and a token that never expires.
    forever = _token(tmp_path, "create", "--subject", "f@corp.example", "--role", "operator", "--region", "amer",
                     "--expires", "never", "--json")  # fmt: skip
    doc = json.loads(forever.stdout)
    assert (doc["regions"], doc["legal_entities"], doc["expires_at"]) == (["amer"], [], None)


def test_serve_without_tokens_says_how_to_create_one(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*LEDGERLINE, "serve", "--http-port", "0", "--grpc-port", "0", "--api-port", "0"],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        api = _read_urls(process, seen=lines)["api"].removesuffix("/docs")
        assert httpx.get(f"{api}/api/v1/alerts", timeout=10).status_code == 401
        assert httpx.get(f"{api}/healthz", timeout=10).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    hints = [line for line in lines if "no API tokens yet" in line]
    assert len(hints) == 1 and "ledgerline token create" in hints[0]


def test_auth_off_is_refused_beyond_loopback(tmp_path: Path) -> None:
    env = _env(tmp_path, LEDGERLINE_API_AUTH="off", LEDGERLINE_INGEST_TOKENS="ingest-secret")
    result = subprocess.run(
        [*LEDGERLINE, "serve", "--host", "0.0.0.0"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "ledgerline: error: refusing to serve the API on 0.0.0.0 with LEDGERLINE_API_AUTH=off: "
        "turn auth on or pass --insecure"
    )


def test_demo_prints_a_working_admin_token_and_revokes_it_on_stop(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            *LEDGERLINE,
            "demo",
            "--no-dashboard",
            "--backfill",
            "1m",
            "--rate",
            "1",
            "--http-port",
            "0",
            "--grpc-port",
            "0",
            "--api-port",
            "0",
        ],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        urls = _read_urls(process, timeout=90)
        api, token = urls["api"].removesuffix("/docs"), urls["token"]
        me = httpx.get(f"{api}/api/v1/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
        assert (me["subject"], me["role"]) == ("demo@ledgerline.local", "admin")
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=90)
    assert process.returncode == 0
    listed = json.loads(_token(tmp_path, "list", "--json").stdout)
    # the admin token, and the month-end story's preparer and reviewer tokens: none outlives the demo
    states = {t["subject"]: t["state"] for t in listed}
    assert states.get("demo@ledgerline.local") == "revoked"
    assert set(states.values()) == {"revoked"} and len(states) == len(listed)


def _demo_once(tmp_path: Path, seconds: float) -> str:
    process = subprocess.Popen(
        [
            *LEDGERLINE,
            "demo",
            "--no-dashboard",
            "--backfill",
            "10m",
            "--rate",
            "2",
            "--http-port",
            "0",
            "--grpc-port",
            "0",
            "--api-port",
            "0",
        ],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    try:
        _read_urls(process, timeout=90, seen=seen)
        time.sleep(seconds)
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=90)
    assert process.returncode == 0, out
    return "\n".join(seen) + out


def test_a_restarted_demo_sends_no_history_again_and_says_what_was_committed(tmp_path: Path) -> None:
    first = _demo_once(tmp_path, 3)
    assert "backfilling 10m of history" in first
    hops1, ids1 = map(int, re.search(r"committed: (\d+) hops of (\d+) correlation IDs", first).groups())  # type: ignore[union-attr]
    second = _demo_once(tmp_path, 3)
    assert f"the store already holds {hops1} hops" in second and "backfilling" not in second
    hops2, ids2 = map(int, re.search(r"committed: (\d+) hops of (\d+) correlation IDs", second).groups())  # type: ignore[union-attr]
    sent = int(re.search(r"simulate: done in [\d.]+s: (\d+) transactions", second).group(1))  # type: ignore[union-attr]
    assert sent > 0 and hops2 > hops1
    assert ids2 - ids1 >= sent  # every live transaction of the restart is new: no ID of the first run reused
