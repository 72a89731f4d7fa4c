"""The access log scoped like every read, refused credentials recorded, one entry per search,
identity compared in one normal form (issue 28 items 2, 3, 5)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from collector.store import Store
from lineage.api.app import create_app
from lineage.auth.audit import AccessEntry, AccessLog
from lineage.auth.refusals import RefusalLog
from lineage.auth.settings import AuthSettings
from lineage.auth.tokens import TokenStore
from lineage.core.timeparse import utcnow
from tests.ledgerline.test_cli import LEDGERLINE, _env, _read_urls, _token
from tests.lineage.auth.helpers import auth_tables, bearer
from tests.lineage.conftest import make_lineage
from tests.lineage.helpers import MIN, Emitter, now_ns

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def world(store: Store, emitter: Emitter) -> Iterator[tuple[TestClient, TokenStore]]:
    """C-DE in DE01 (with invoice INV-DE), C-FR in FR01 (with invoice INV-FR), the API over them."""
    t0 = now_ns() - 30 * MIN
    for le in ("DE", "FR"):
        emitter.hop(f"C-{le}", "case", f"CASE-{le}", "case.opened", t0, legal_entity=f"{le}01", region="eu-west")
        emitter.hop(f"C-{le}", "invoice", f"INV-{le}", "invoice.issued", t0 + MIN, legal_entity=f"{le}01",
                    region="eu-west", parent=("case", f"CASE-{le}"), amount=10.0, currency="EUR")  # fmt: skip
    emitter.wait()
    tokens = TokenStore(auth_tables(store))
    auth = AuthSettings(access_log_flush_s=0.05, token_cache_ttl_s=0)
    with TestClient(create_app(make_lineage(store).settings, store, auth)) as client:
        yield client, tokens


def _log(client: TestClient, token: str, **params: str) -> dict[str, Any]:
    answer = client.get("/api/v1/audit-log", params=params, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    doc: dict[str, Any] = answer.json()
    return doc


def test_a_scoped_auditor_sees_only_entries_of_its_scope(world: tuple[TestClient, TokenStore]) -> None:
    client, tokens = world
    de_user = tokens.create("de-user@corp.example", "viewer", ["DE01"])[1]
    root_user = tokens.create("root-user@corp.example", "viewer")[1]
    de_auditor = tokens.create("de-aud@corp.example", "auditor", ["DE01"])[1]
    fr_auditor = tokens.create("fr-aud@corp.example", "auditor", ["FR01"])[1]
    root_auditor = tokens.create("root-aud@corp.example", "auditor")[1]

    calls = [
        (de_user, "/api/v1/transactions/C-DE", 200),
        (de_user, "/api/v1/transactions/C-FR", 404),  # outside its scope: another entity's ID
        (de_user, "/api/v1/entities/invoice/INV-FR", 404),
        (de_user, "/api/v1/transactions/C-NOWHERE", 404),  # found nowhere: the actor's own scope
        (root_user, "/api/v1/transactions/C-FR", 200),
        (root_user, "/api/v1/transactions/C-DE", 200),
    ]
    for token, url, status in calls:
        assert client.get(url, headers=bearer(token)).status_code == status

    reads = {"action": "transaction.read"}
    de_view = _log(client, de_auditor, **reads)
    assert sorted((e["subject"], e["target"]) for e in de_view["entries"]) == [
        ("de-user@corp.example", "C-DE"),
        ("de-user@corp.example", "C-NOWHERE"),
        ("root-user@corp.example", "C-DE"),
    ]
    assert de_view["withheld"] == 2  # de-user's and root-user's reads of C-FR
    entity = _log(client, de_auditor, action="entity.read")
    assert entity["entries"] == [] and entity["withheld"] == 1
    fr_view = _log(client, fr_auditor, **reads)
    assert sorted((e["subject"], e["target"]) for e in fr_view["entries"]) == [
        ("de-user@corp.example", "C-FR"),  # FR01's auditor sees who probed its transaction
        ("root-user@corp.example", "C-FR"),
    ]
    root_view = _log(client, root_auditor, **reads)
    assert len(root_view["entries"]) == 5 and root_view["withheld"] == 0
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", e["at"]) for e in root_view["entries"])
    # Nothing of FR01 reaches DE01's auditor, whatever the filter.
    everything = _log(client, de_auditor, since="1h")
    assert "FR" not in json.dumps(everything["entries"]).replace("fr-aud", "")

    # The log's own reads are logged, with what was asked and answered, and scoped the same way.
    own = _log(client, root_auditor, action="audit_log.read", subject="de-aud@corp.example")
    assert own["entries"] and all(e["action"] == "audit_log.read" for e in own["entries"])
    assert any(re.search(r"\d+ entries, \d+ withheld", e["target"]) for e in own["entries"])
    assert _log(client, fr_auditor, action="audit_log.read", subject="de-aud@corp.example")["entries"] == []


def test_the_subject_filter_and_the_record_use_one_normal_form(world: tuple[TestClient, TokenStore]) -> None:
    client, tokens = world
    user = tokens.create("  Mixed.Case@Corp.Example ", "viewer")[1]
    auditor = tokens.create("aud@corp.example", "auditor")[1]
    assert client.get("/api/v1/transactions/C-DE", headers=bearer(user)).status_code == 200
    for spelling in ("mixed.case@corp.example", "MIXED.CASE@CORP.EXAMPLE", " Mixed.Case@corp.example"):
        entries = _log(client, auditor, subject=spelling, action="transaction.read")["entries"]
        assert [e["subject"] for e in entries] == ["mixed.case@corp.example"], spelling
    # Opaque (non-email) subjects keep their case: an issuer may treat it as significant.
    opaque = tokens.create("AbC-123", "viewer")[0]
    assert opaque.subject == "AbC-123"


def test_a_search_is_one_entry_and_scoped_by_what_it_found(world: tuple[TestClient, TokenStore]) -> None:
    client, tokens = world
    de_user = tokens.create("de-user@corp.example", "viewer", ["DE01"])[1]
    root_auditor = tokens.create("root-aud@corp.example", "auditor")[1]
    de_auditor = tokens.create("de-aud@corp.example", "auditor", ["DE01"])[1]
    found = client.get("/api/v1/search", params={"q": "INV-DE"}, headers=bearer(de_user))
    assert found.status_code == 200 and found.json()["keys"] == ["invoice:INV-DE"]
    assert [t["correlation_id"] for t in found.json()["transactions"]] == ["C-DE"]
    assert client.get("/api/v1/search", params={"q": "INV-FR"}, headers=bearer(de_user)).status_code == 404
    assert client.get("/api/v1/search", params={"q": "C-DE"}, headers=bearer(de_user)).json()["found_as"] == (
        "correlation_id"
    )
    entries = _log(client, root_auditor, subject="de-user@corp.example")["entries"]
    assert sorted((e["action"], e["target"], e["status"]) for e in entries) == [
        ("search", "C-DE", 200),
        ("search", "INV-DE", 200),
        ("search", "INV-FR", 404),
    ]
    de_view = _log(client, de_auditor, subject="de-user@corp.example")
    assert sorted(e["target"] for e in de_view["entries"]) == ["C-DE", "INV-DE"] and de_view["withheld"] == 1


def test_refused_credentials_are_logged_rate_limited_per_source(world: tuple[TestClient, TokenStore]) -> None:
    client, tokens = world
    auditor = tokens.create("aud@corp.example", "auditor")[1]
    de_auditor = tokens.create("de-aud@corp.example", "auditor", ["DE01"])[1]
    guessed = "llt_0123456789abcdef_" + "A" * 43
    for _ in range(3):
        assert client.get("/api/v1/whoami", headers=bearer(guessed)).status_code == 401
    assert client.get("/api/v1/whoami").status_code == 401
    refused = _log(client, auditor, action="auth.refused")["entries"]
    assert [(e["via"], e["status"], e["client"]) for e in refused].count(
        ("token:0123456789abcdef", 401, "testclient")
    ) == 3
    assert any(e["via"] == "none" for e in refused)
    assert guessed not in json.dumps(refused) and "A" * 43 not in json.dumps(refused)
    assert _log(client, de_auditor, action="auth.refused")["entries"] == []  # nobody's data: unrestricted only


def test_the_refusal_limit_summarises_the_rest(store: Store) -> None:
    auth_tables(store)
    now = [0.0]
    access_log = AccessLog(store)
    refusals = RefusalLog(access_log, burst=3, window_s=60, max_sources=2, clock=lambda: now[0])

    def refuse(client: str) -> None:
        refusals.refused(AccessEntry(utcnow(), "", "", "none", "auth.refused", "unknown API token", "GET",
                                     "/api/v1/whoami", client, 401, scopes=(("*", "*"),)))  # fmt: skip

    for _ in range(50):
        refuse("10.0.0.1")
    access_log.flush()
    assert _count(store, "10.0.0.1") == 3  # the burst; the rest counted, not yet written
    now[0] = 61.0
    access_log.flush()  # the window closed: one summary entry
    assert _count(store, "10.0.0.1") == 4
    [summary] = store.query("SELECT Target FROM access_log WHERE Client = '10.0.0.1' AND Target LIKE '%more refused%'")
    assert summary[0].startswith("47 more refused calls from 10.0.0.1")
    # Bounded memory: a third source evicts the oldest, which is summarised first.
    for client in ("10.0.0.2", "10.0.0.3", "10.0.0.4"):
        for _ in range(5):
            refuse(client)
    access_log.stop()
    assert [_count(store, c) for c in ("10.0.0.2", "10.0.0.3", "10.0.0.4")] == [4, 4, 4]


def _count(store: Store, client: str) -> int:
    return int(store.query("SELECT count() FROM access_log WHERE Client = {c:String}", {"c": client})[0][0])


def test_token_commands_on_the_store_are_in_the_access_log(tmp_path: Path) -> None:
    created = _token(tmp_path, "create", "--subject", "root@corp.example", "--role", "admin", "--json")
    assert created.returncode == 0, created.stderr
    made = json.loads(created.stdout)
    other = json.loads(_token(tmp_path, "create", "--subject", "x@corp.example", "--role", "viewer", "--json").stdout)
    assert _token(tmp_path, "revoke", other["id"]).returncode == 0
    process = subprocess.Popen(
        [*LEDGERLINE, "serve", "--http-port", "0", "--grpc-port", "0", "--api-port", "0"],
        env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        api = _read_urls(process)["api"].removesuffix("/docs")
        answer = httpx.get(f"{api}/api/v1/audit-log", params={"since": "1h"}, timeout=10,
                           headers={"Authorization": f"Bearer {made['token']}"})  # fmt: skip
        entries = answer.json()["entries"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    local = sorted((e["action"], e["target"], e["via"]) for e in entries if e["via"] == "cli")
    assert local == sorted([("token.create", made["id"], "cli"), ("token.create", other["id"], "cli"),
                            ("token.revoke", other["id"], "cli")])  # fmt: skip
    assert made["created_by"] == next(e["subject"] for e in entries if e["via"] == "cli")
    assert all(e["at"].endswith("Z") for e in entries)
