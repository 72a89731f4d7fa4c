"""``ledgerline serve`` creates a seal key, seals on its interval and at stop; afterwards the
store-mode CLI exports a pack that verifies offline, and ``verify --store`` passes. Another
seal key is refused at start until ``keys rotate`` hands over to it."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
from pathlib import Path

from tests.collector.sdk import hop_attributes, http_exporter, provider
from tests.ledgerline.test_cli import LEDGERLINE, _env, _read_urls


def _cli(tmp_path: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LEDGERLINE, *argv], env=_env(tmp_path, **env), capture_output=True, text=True, timeout=120)


def _serve_once(tmp_path: Path, cid: str, **env: str) -> str:
    """Run serve, send one hop, stop it (the final seal seals it); the fingerprint it printed."""
    process = subprocess.Popen(
        [*LEDGERLINE, "serve", "--http-port", "0", "--grpc-port", "0", "--api-port", "0"],
        env=_env(tmp_path, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        urls = _read_urls(process)
        with provider(http_exporter(urls["otlp_http"]), service="billing") as tp:
            attrs = hop_attributes("invoice", f"INV-{cid}", "invoice.issued", cid)
            with tp.get_tracer("t").start_as_current_span("issue", attributes=attrs):
                pass
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, out
    return urls["seal_key"]  # printed at start: "  seal_key   <fingerprint> (new key <path>)"


def test_serve_seals_and_the_store_verifies(tmp_path: Path) -> None:
    fingerprint = _serve_once(tmp_path, "SEAL-1", LEDGERLINE_SEAL_INTERVAL_S="0.5")
    key = tmp_path / "seal.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and (tmp_path / "seal.pub").exists()
    assert len(fingerprint) == 64

    verified = _cli(tmp_path, "verify", "--store")
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("OK ") and "1 hops recomputed" in verified.stdout
    pack = tmp_path / "pack.json"
    exported = _cli(tmp_path, "evidence", "SEAL-1", "--out", str(pack), "--store")
    assert exported.returncode == 0, exported.stderr
    checked = _cli(tmp_path, "verify", str(pack))  # the data directory's seal.pub
    assert checked.returncode == 0 and checked.stdout.startswith("OK SEAL-1: 1 hops"), checked.stdout
    assert fingerprint in checked.stdout
    doc = json.loads(pack.read_text())
    doc["hops"][0]["record"]["Amount"] = 1.0
    pack.write_text(json.dumps(doc))
    tampered = _cli(tmp_path, "verify", str(pack))
    assert tampered.returncode == 1 and tampered.stdout.startswith("FAILED inclusion proof of hop ")


def _refused(tmp_path: Path, **env: str) -> str:
    refused = subprocess.run(
        [*LEDGERLINE, "serve", "--http-port", "0", "--grpc-port", "0", "--api-port", "0"],
        env=_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "Ctrl-C" not in refused.stdout and "Traceback" not in refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ledgerline: error: "), refused.stderr
    return lines[0]


def test_serve_refuses_another_seal_key_until_it_is_rotated_in(tmp_path: Path) -> None:
    """Issue 28 item 8: a different or recreated key used to sign on silently and break the chain."""
    old_fp = _serve_once(tmp_path, "ROT-1")
    old_key, old_pub = tmp_path / "seal.key", tmp_path / "seal.pub"
    new_dir = tmp_path / "new"
    assert _cli(tmp_path, "keys", "init", "--dir", str(new_dir)).returncode == 0
    new_key = new_dir / "seal.key"

    line = _refused(tmp_path, LEDGERLINE_SEAL_KEY=str(new_key))
    assert "(which signed the latest seal 1)" in line and "ledgerline keys rotate --old-key" in line
    old_key.rename(tmp_path / "kept.key")  # the key file lost: serve must not make a new one
    assert "error: no seal key at " in _refused(tmp_path)
    assert not old_key.exists()
    (tmp_path / "kept.key").rename(old_key)

    rotated = _cli(tmp_path, "keys", "rotate", "--old-key", str(old_key), "--new-key", str(new_key))
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.startswith(f"rotation 1: seal key {old_fp} hands over to ")
    _refused(tmp_path)  # the old key is retired
    new_fp = _serve_once(tmp_path, "ROT-2", LEDGERLINE_SEAL_KEY=str(new_key))
    assert new_fp != old_fp

    for pub in (old_pub, new_dir / "seal.pub"):
        verified = _cli(tmp_path, "verify", "--store", "--public-key", str(pub))
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert verified.stdout.startswith("OK 2 seals (1-2), 2 hops recomputed")
        assert "across 1 key rotation(s)" in verified.stdout
    pack = tmp_path / "old.pack.json"  # a hop sealed under the old key, exported under the new one
    exported = _cli(tmp_path, "evidence", "ROT-1", "--out", str(pack), "--store", LEDGERLINE_SEAL_KEY=str(new_key))
    assert exported.returncode == 0, exported.stderr
    checked = _cli(tmp_path, "verify", str(pack), "--public-key", str(old_pub))
    assert checked.returncode == 0 and checked.stdout.startswith("OK ROT-1: 1 hops"), checked.stdout
