"""The API on a real uvicorn server on loopback, and ``ledgerline trace`` talking to it."""

from __future__ import annotations

import argparse
import io
import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from lineage import cli
from lineage.api.app import create_app
from tests.lineage.auth.helpers import bearer, issue
from tests.lineage.conftest import Shared

TOKEN: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_url(shared: Shared) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(shared.lineage.settings, shared.store), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    TOKEN["viewer"] = issue(shared.store, "viewer")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()


def _trace(*argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    cli.register(sub)
    args = parser.parse_args(["trace", *argv, "--token", TOKEN["viewer"]])
    out = io.StringIO()
    return args.func(args, out), out.getvalue()


def test_openapi_served(api_url: str) -> None:
    spec = httpx.get(f"{api_url}/openapi.json", timeout=10).json()
    assert "/api/v1/transactions/{correlation_id}" in spec["paths"]
    assert "/api/v1/exceptions/{exception_id}/resolve" in spec["paths"]
    assert httpx.get(f"{api_url}/docs", timeout=10).status_code == 200


def test_trace_prints_tree_sla_and_stitching(api_url: str) -> None:
    code, text = _trace("C-B0", "--api", api_url)
    assert code == 0
    assert "C-B0  flow=support_credit  status=COMPLETE" in text
    assert "└─ credit CR-B0  credit.approved @billing  OK" in text
    assert "ledger JNL-1  (in another transaction)" in text
    assert "Stitched transactions:" in text and "J-1  erp_journal  complete  (via entity, depth 1)" in text
    assert "2 more left out" in text


def test_trace_shows_retries_exceptions_and_overdue(api_url: str) -> None:
    code, text = _trace("C-DLQ", "--api", api_url)
    assert code == 0 and "status=FAILED" in text
    assert "ledger LED-DLQ  ledger.posted @sap  DEAD_LETTER x2 [tax_error]" in text
    assert "ledger     open/4h00m  OVERDUE by" in text
    assert "tax_error (business rule), 2 attempts" in text


def test_trace_json_and_entity(api_url: str) -> None:
    code, text = _trace("C-OK", "--json", "--api", api_url)
    doc, api = (
        json.loads(text),
        httpx.get(f"{api_url}/api/v1/transactions/C-OK", headers=bearer(TOKEN["viewer"])).json(),
    )
    assert code == 0 and doc["correlation_id"] == "C-OK" and doc["hops"] == api["hops"] and doc["sla"]["stages"]
    code, text = _trace("--entity", "invoice:INV-OK", "--api", api_url)
    assert code == 0 and text.startswith("C-OK  flow=support_credit")


def test_trace_errors(api_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _trace("NOPE", "--api", api_url)[0] == 1
    assert "no hops stored for correlation ID 'NOPE'" in capsys.readouterr().err
    assert _trace("--entity", "invoice", "--api", api_url)[0] == 2
    assert _trace("C-OK", "--api", "http://127.0.0.1:9", "--timeout", "2")[0] == 2
    assert "cannot reach the lineage API" in capsys.readouterr().err


def test_trace_needs_a_credential(api_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["trace", "C-OK", "--api", api_url])
    assert args.func(args, io.StringIO()) == 2
    assert "pass --token or set LEDGERLINE_API_TOKEN (HTTP 401)" in capsys.readouterr().err
    bad = parser.parse_args(["trace", "C-OK", "--api", api_url, "--token", "llt_0123456789abcdef_" + "x" * 43])
    assert bad.func(bad, io.StringIO()) == 2 and "unknown API token" in capsys.readouterr().err


def test_trace_reads_the_token_from_the_environment(api_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGERLINE_API_TOKEN", TOKEN["viewer"])
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["trace", "C-OK", "--api", api_url])
    out = io.StringIO()
    assert args.func(args, out) == 0 and out.getvalue().startswith("C-OK")
