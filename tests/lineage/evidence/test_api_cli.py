"""The evidence routes (auth stand-in from tests/principal.py) and the CLI: ``keys init``,
``seal`` and ``evidence`` through a real API on loopback, ``verify`` offline."""

from __future__ import annotations

import argparse
import json
import socket
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from collector.store import Store
from collector.store.errors import ConfigError
from lineage.api.app import create_app
from lineage.auth.principal import Principal
from lineage.core.service import Lineage
from lineage.evidence import cli
from lineage.evidence.keys import init_keys, load_private, load_public
from lineage.evidence.service import EvidenceService
from tests.lineage.auth.helpers import issue
from tests.lineage.helpers import HOUR, Emitter, complete_txn, now_ns
from tests.principals import as_principal, as_user

AUDITOR = Principal("alice@audit", "auditor")


def _app(lineage: Lineage, evidence: EvidenceService) -> FastAPI:
    app = create_app(lineage.settings, lineage.store, evidence=evidence)
    return app


@pytest.fixture
def client(lineage: Lineage, evidence: EvidenceService) -> Iterator[TestClient]:
    with TestClient(as_principal(_app(lineage, evidence), AUDITOR)) as c:
        yield c


def test_routes_need_a_principal(lineage: Lineage, evidence: EvidenceService) -> None:
    with TestClient(_app(lineage, evidence)) as anonymous:
        for path in ("/api/v1/seals/latest", "/api/v1/seals/public-key", "/api/v1/transactions/C/evidence"):
            assert anonymous.get(path).status_code == 401


def test_export_seal_and_status_routes(
    client: TestClient, emitter: Emitter, evidence: EvidenceService, evidence_store: Store
) -> None:
    assert client.get("/api/v1/seals/latest").status_code == 404
    key = client.get("/api/v1/seals/public-key").json()
    assert key["fingerprint"] == evidence.fingerprint and key["public_key"].startswith("-----BEGIN PUBLIC KEY")
    complete_txn(emitter, "C-API", now_ns() - 2 * HOUR, n="API")
    emitter.wait()
    unsealed = client.get("/api/v1/transactions/C-API/evidence")
    assert unsealed.status_code == 409 and unsealed.headers["Retry-After"] == "3600"
    assert "not sealed yet" in unsealed.json()["detail"]
    status = client.get("/api/v1/transactions/C-API/seal-status").json()
    assert (status["hops"], status["sealed"], status["fully_sealed"], status["verified"]) == (4, 0, False, False)
    made = client.post("/api/v1/seals", headers=as_user("root@ops", "admin")).json()
    assert made["sealed"] is True and made["seal"]["leaf_count"] == 4
    assert client.post("/api/v1/seals", headers=as_user("root@ops", "admin")).json()["sealed"] is False
    assert client.get("/api/v1/seals/latest").json()["seal_hash"] == made["seal"]["seal_hash"]
    status = client.get("/api/v1/transactions/C-API/seal-status").json()
    assert status["fully_sealed"] and status["verified"] and status["check"] is None, status["check"]
    pack = client.get("/api/v1/transactions/C-API/evidence").json()
    assert pack["document"]["correlation_id"] == "C-API" and len(pack["hops"]) == 4
    log = evidence_store.query("SELECT Actor, Role, CorrelationId, Hops, LatestSeal FROM evidence_exports")
    assert log == [("alice@audit", "auditor", "C-API", 4, 1)]
    assert client.get("/api/v1/transactions/NOPE/evidence").status_code == 404
    assert client.get("/api/v1/transactions/NOPE/seal-status").status_code == 404
    # A hop changed behind the sealer's back shows on the status.
    evidence_store.command(
        "ALTER TABLE hops UPDATE Outcome = 'failed' WHERE EntityType = 'ledger' SETTINGS mutations_sync = 2"
    )
    status = client.get("/api/v1/transactions/C-API/seal-status").json()
    assert status["verified"] is False and status["check"].startswith("inclusion proof of hop")


@contextmanager
def _serve(app: Any) -> Iterator[str]:
    """``app`` on a real uvicorn server on loopback; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture
def api_url(lineage: Lineage, evidence: EvidenceService) -> Iterator[str]:
    with _serve(as_principal(_app(lineage, evidence), Principal("root@ops", "admin"))) as url:  # seal needs admin
        yield url


@pytest.fixture
def bare_api_url(lineage: Lineage, evidence: EvidenceService) -> Iterator[str]:
    """The API with auth on and nothing injecting a credential: the CLI must send its own."""
    with _serve(_app(lineage, evidence)) as url:
        yield url


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(list(argv))
    return int(args.func(args))


def test_cli_seals_exports_and_verifies(
    api_url: str, emitter: Emitter, evidence: EvidenceService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    complete_txn(emitter, "C-CLI", now_ns() - 2 * HOUR, n="CLI")
    emitter.wait()
    pack, pub = tmp_path / "pack.json", tmp_path / "seal.pub"
    pub.write_text(evidence.public_key()["public_key"])
    assert _run("evidence", "C-CLI", "--out", str(pack), "--api", api_url) == 1  # not sealed yet
    assert "not sealed yet" in capsys.readouterr().err
    assert _run("seal", "--api", api_url) == 0
    assert "sealed seal 1: 4 hops" in capsys.readouterr().out
    assert _run("evidence", "C-CLI", "--out", str(pack), "--api", api_url) == 0
    assert _run("verify", str(pack), "--public-key", str(pub)) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("OK C-CLI: 4 hops in 1 seal(s)")
    doc = json.loads(pack.read_text())
    doc["seals"][0]["signature"] = "00" * 64
    pack.write_text(json.dumps(doc))
    assert _run("verify", str(pack), "--public-key", str(pub)) == 1
    assert capsys.readouterr().out.startswith("FAILED signature of seal 1:")
    assert _run("verify", "--public-key", str(pub)) == 2  # neither a pack nor --store


def test_cli_sends_the_token(
    bare_api_url: str,
    emitter: Emitter,
    evidence_store: Store,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    complete_txn(emitter, "C-TOK", now_ns() - 2 * HOUR, n="TOK")
    emitter.wait()
    pack = tmp_path / "pack.json"
    # Without a credential: a one-line error naming --token, exit 2, no traceback, nothing written.
    assert _run("seal", "--api", bare_api_url) == 2
    err = capsys.readouterr().err
    assert err.startswith("ledgerline seal: ") and "pass --token or set LEDGERLINE_API_TOKEN (HTTP 401)" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert _run("evidence", "C-TOK", "--out", str(pack), "--api", bare_api_url) == 2
    err = capsys.readouterr().err
    assert err.startswith("ledgerline evidence: ") and "(HTTP 401)" in err and "Traceback" not in err
    assert not pack.exists()
    # A real admin token seals (admin only); a real auditor token from the environment exports.
    admin = issue(evidence_store, "admin", "root@ops")
    assert _run("seal", "--api", bare_api_url, "--token", admin) == 0
    assert "sealed seal 1: 4 hops" in capsys.readouterr().out
    monkeypatch.setenv("LEDGERLINE_API_TOKEN", issue(evidence_store, "auditor", "alice@audit"))
    assert _run("evidence", "C-TOK", "--out", str(pack), "--api", bare_api_url) == 0
    assert json.loads(pack.read_text())["document"]["correlation_id"] == "C-TOK"
    log = evidence_store.query("SELECT Actor, Role, CorrelationId FROM evidence_exports")
    assert log == [("alice@audit", "auditor", "C-TOK")]
    # A token without the right role: refused with the API's reason, not a traceback.
    viewer = issue(evidence_store, "viewer", "bob@ops")
    assert _run("seal", "--api", bare_api_url, "--token", viewer) == 2
    assert "(HTTP 403)" in capsys.readouterr().err


def test_keys_init(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("keys", "init", "--dir", str(tmp_path / "k")) == 0
    key_path, pub_path = tmp_path / "k" / "seal.key", tmp_path / "k" / "seal.pub"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert pub_path.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert load_private(key_path).public_key() == load_public(pub_path)
    assert "fingerprint " in capsys.readouterr().out
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        init_keys(tmp_path / "k")
    key_path.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        load_private(key_path)


def test_dashboard_badge_reads_the_seal_status(api_url: str, emitter: Emitter, evidence: EvidenceService) -> None:
    from dashboard.api import ApiClient
    from dashboard.views.lineage import seal_message

    emitter.hop("C-DASH", "case", "CASE-D", "case.opened", now_ns() - HOUR)
    emitter.wait()
    api = ApiClient(api_url)
    try:
        assert seal_message(api.seal_status("C-DASH")) == ("info", "Sealing in progress: 0 of 1 hops sealed so far.")
        evidence.sealer.seal_now()
        level, text = seal_message(api.seal_status("C-DASH"))
        assert level == "success" and text.startswith("Sealed and verified: all 1 hops")
    finally:
        api.close()
