"""``ledgerline serve`` creates a seal key, seals on its interval and at stop; afterwards the
store-mode CLI exports a pack that verifies offline, and ``verify --store`` passes."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
from pathlib import Path

from tests.collector.sdk import hop_attributes, http_exporter, provider
from tests.ledgerline.test_cli import LEDGERLINE, _env, _read_urls


def _cli(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LEDGERLINE, *argv], env=_env(tmp_path), capture_output=True, text=True, timeout=120)


def test_serve_seals_and_the_store_verifies(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*LEDGERLINE, "serve", "--http-port", "0", "--grpc-port", "0", "--api-port", "0"],
        env=_env(tmp_path, LEDGERLINE_SEAL_INTERVAL_S="0.5"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        urls = _read_urls(process)
        with provider(http_exporter(urls["otlp_http"]), service="billing") as tp:
            attrs = hop_attributes("invoice", "INV-SEAL-1", "invoice.issued", "SEAL-1")
            with tp.get_tracer("t").start_as_current_span("issue", attributes=attrs):
                pass
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, out
    key = tmp_path / "seal.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and (tmp_path / "seal.pub").exists()
    fingerprint = urls["seal_key"]  # printed at start: "  seal_key   <fingerprint> (new key <path>)"
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
