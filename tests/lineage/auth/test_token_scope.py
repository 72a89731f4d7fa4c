"""A scoped admin administers its own scope and nothing wider (issue 28, HIGH).

A token's scope never exceeds its creator's; a scoped caller lists and revokes only tokens
whose scope lies within its own; ``ledgerline token create`` through the API is held to the
same rule.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from collector.service import UvicornThread
from collector.store import Store
from ledgerline.cli import main
from lineage.api.app import create_app
from lineage.auth.settings import AuthSettings
from lineage.auth.tokens import TokenStore
from lineage.core.scope import Scope
from tests.lineage.auth.helpers import auth_tables, bearer
from tests.lineage.conftest import make_lineage
from tests.lineage.helpers import MIN, Emitter, now_ns


@pytest.fixture
def world(store: Store, emitter: Emitter) -> Iterator[tuple[TestClient, TokenStore]]:
    """One transaction in DE01 and one in FR01, the API over them."""
    t0 = now_ns() - 30 * MIN
    emitter.hop("C-DE", "case", "CASE-DE", "case.opened", t0, legal_entity="DE01", region="eu-west")
    emitter.hop("C-FR", "case", "CASE-FR", "case.opened", t0, legal_entity="FR01", region="eu-west")
    emitter.wait()
    tokens = TokenStore(auth_tables(store))
    with TestClient(create_app(make_lineage(store).settings, store, AuthSettings(token_cache_ttl_s=0))) as client:
        yield client, tokens


def _create(client: TestClient, token: str, **body: object) -> tuple[int, dict[str, object]]:
    response = client.post(
        "/api/v1/tokens", json={"subject": "new@corp.example", "role": "admin", **body}, headers=bearer(token)
    )
    return response.status_code, response.json()


def test_a_scoped_admin_cannot_mint_a_wider_token(world: tuple[TestClient, TokenStore]) -> None:
    client, tokens = world
    _, de_admin = tokens.create("de-admin@corp.example", "admin", ["DE01"])
    assert client.get("/api/v1/transactions/C-FR", headers=bearer(de_admin)).status_code == 404

    for wider in ({}, {"legal_entities": ["FR01"]}, {"legal_entities": ["DE01", "FR01"]}, {"regions": ["eu-west"]}):
        status, answer = _create(client, de_admin, **wider)
        assert status == 403, (wider, answer)
        assert "may not exceed its creator's" in str(answer["detail"]) and "DE01" in str(answer["detail"])

    status, created = _create(client, de_admin, legal_entities=[" DE01 "], regions=["eu-west"])
    assert status == 201 and created["legal_entities"] == ["DE01"] and created["regions"] == ["eu-west"]
    minted = str(created["token"])
    # The minted token sees no more than its creator.
    assert client.get("/api/v1/transactions/C-FR", headers=bearer(minted)).status_code == 404
    assert client.get("/api/v1/transactions/C-DE", headers=bearer(minted)).status_code == 200


def test_a_scoped_admin_lists_and_revokes_only_its_scope(world: tuple[TestClient, TokenStore]) -> None:
    client, tokens = world
    _, de_admin = tokens.create("de-admin@corp.example", "admin", ["DE01"])
    _, root = tokens.create("root@corp.example", "admin")
    de_viewer = tokens.create("de-viewer@corp.example", "viewer", ["DE01"], ["eu-west"])[0]
    fr_viewer = tokens.create("fr-viewer@corp.example", "viewer", ["FR01"])[0]
    both = tokens.create("both@corp.example", "viewer", ["DE01", "FR01"])[0]
    unscoped = tokens.create("all@corp.example", "viewer")[0]

    listed = client.get("/api/v1/tokens", headers=bearer(de_admin)).json()["tokens"]
    assert {t["subject"] for t in listed} == {"de-admin@corp.example", "de-viewer@corp.example"}
    everything = client.get("/api/v1/tokens", headers=bearer(root)).json()["tokens"]
    assert {fr_viewer.id, both.id, unscoped.id} <= {t["id"] for t in everything}

    for outside in (fr_viewer, both, unscoped):
        assert client.delete(f"/api/v1/tokens/{outside.id}", headers=bearer(de_admin)).status_code == 404
        record = tokens.get(outside.id)
        assert record is not None and record.revoked_at is None
    assert client.delete(f"/api/v1/tokens/{de_viewer.id}", headers=bearer(de_admin)).status_code == 200


def test_scope_covers_is_the_rule_of_the_sql(store: Store) -> None:
    """Scope.covers (the create check) and the listing's SQL keep the same tokens."""
    tokens = TokenStore(auth_tables(store))
    shapes = [((), ()), (("A",), ()), (("A", "B"), ()), ((), ("x",)), (("A",), ("x",)), (("B",), ("x", "y"))]
    for les, rgs in shapes:
        tokens.create(f"{'-'.join(les + rgs) or 'all'}@t.example", "viewer", les, rgs)
    for les, rgs in shapes:
        caller = Scope(les, rgs)
        listed = {(r.legal_entities, r.regions) for r in tokens.list(caller)}
        expected = {(le, rg) for le, rg in shapes if caller.covers(Scope(le, rg))}
        assert listed == expected, caller


def test_token_cli_through_the_api_keeps_the_creators_scope(
    world: tuple[TestClient, TokenStore], capsys: pytest.CaptureFixture[str]
) -> None:
    client, tokens = world
    _, de_admin = tokens.create("de-admin@corp.example", "admin", ["DE01"])
    server = UvicornThread(client.app, "127.0.0.1", 0)
    server.start()
    api = ["--api", f"http://127.0.0.1:{server.port}", "--token", de_admin]
    try:
        code = main(["token", "create", "--subject", "x@corp.example", "--role", "admin", *api])
        err = capsys.readouterr().err
        assert code == 2 and "may not exceed its creator's" in err and "HTTP 403" in err
        code = main(
            [
                "token",
                "create",
                "--subject",
                "x@corp.example",
                "--role",
                "viewer",
                "--legal-entity",
                "DE01",
                "--json",
                *api,
            ]
        )
        assert code == 0 and '"legal_entities": [\n    "DE01"\n  ]' in capsys.readouterr().out
    finally:
        server.stop(5)
