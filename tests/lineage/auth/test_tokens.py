"""API tokens: shape, hash at rest, expiry, revocation across store instances, and the
401 answers of the authentication layer."""

from __future__ import annotations

import hmac
import logging
import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from collector.settings import StoreSettings
from collector.store import Store
from lineage.api.app import create_app
from lineage.auth.authenticate import Authenticator
from lineage.auth.errors import AuthError
from lineage.auth.settings import AuthSettings
from lineage.auth.tokens import TokenStore, parse_token
from tests.lineage.auth.helpers import auth_tables, bearer
from tests.lineage.conftest import make_lineage


@pytest.fixture
def tokens(store: Store) -> TokenStore:
    return TokenStore(auth_tables(store))


def test_token_shape_and_only_a_hash_at_rest(tokens: TokenStore, store: Store) -> None:
    record, token = tokens.create("alice@corp.example", "operator", ["DE01", " "], ["eu-west"], timedelta(days=90))
    token_id, secret = parse_token(token) or ("", "")
    assert token.startswith("llt_") and token_id == record.id and len(secret) == 43
    dump = store.query("SELECT * FROM api_tokens")
    assert secret not in repr(dump) and token not in repr(dump)
    got = tokens.get(record.id)
    assert got is not None and got.legal_entities == ("DE01",) and got.regions == ("eu-west",)
    assert got.matches(secret) and not got.matches(secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    assert got.principal().scope.legal_entities == ("DE01",) and got.principal().subject == "alice@corp.example"
    with pytest.raises(ValueError, match="unknown role"):
        tokens.create("x", "superuser")


def test_constant_time_comparison_is_used(tokens: TokenStore, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _, token = tokens.create("bob", "viewer")
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr("lineage.auth.tokens.hmac.compare_digest", spy)
    auth = Authenticator(AuthSettings(), store)
    assert auth.authenticate(f"Bearer {token}").subject == "bob"
    assert len(calls) == 1 and len(calls[0][0]) == 64


def test_expiry_is_checked_on_every_request(tokens: TokenStore, store: Store) -> None:
    _, token = tokens.create("short", "viewer", expires_in=timedelta(seconds=1))
    auth = Authenticator(AuthSettings(token_cache_ttl_s=60), store)
    assert auth.authenticate(f"Bearer {token}").subject == "short"
    time.sleep(1.1)
    with pytest.raises(AuthError, match="expired"):
        auth.authenticate(f"Bearer {token}")


def test_revocation_reaches_another_store_instance_within_the_ttl(tokens: TokenStore, store: Store) -> None:
    record, token = tokens.create("carol", "admin")
    other = Store(StoreSettings(clickhouse_url=store.dsn, clickhouse_database=store.database))
    auth = Authenticator(AuthSettings(token_cache_ttl_s=0.5), other)
    assert auth.authenticate(f"Bearer {token}").role == "admin"
    assert tokens.revoke(record.id, by="security@corp.example") is not None
    # Within the TTL the cached record may still be trusted; after it, never.
    time.sleep(0.6)
    with pytest.raises(AuthError, match="revoked"):
        auth.authenticate(f"Bearer {token}")
    history = store.query("SELECT Event, Actor FROM api_tokens WHERE Id = {id:String} ORDER BY At", {"id": record.id})
    assert [tuple(r) for r in history] == [("create", "cli"), ("revoke", "security@corp.example")]
    other.close()


@pytest.mark.parametrize(
    ("header", "error"),
    [
        (None, None),
        ("", None),
        ("Basic dXNlcjpwYXNz", "invalid_request"),
        ("Bearer", "invalid_request"),
        ("Bearer a b", "invalid_request"),
        ("Bearer llt_nothex_short", "invalid_token"),
        ("Bearer llt_0123456789abcdef_" + "A" * 43, "invalid_token"),
        ("Bearer not-a-token", "invalid_token"),
        ("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "invalid_token"),
        ("Bearer " + "A" * 9000, "invalid_request"),
    ],
)
def test_bad_credentials_are_401_with_a_challenge(
    store: Store, header: str | None, error: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    auth_tables(store)
    with TestClient(create_app(make_lineage(store).settings, store, AuthSettings())) as client:
        headers = {"Authorization": header} if header is not None else {}
        with caplog.at_level(logging.WARNING, logger="lineage.auth.middleware"):
            response = client.get("/api/v1/transactions", headers=headers)
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer realm=")
    assert (f'error="{error}"' in challenge) if error else ("error=" not in challenge)
    assert len(caplog.records) == 1 and "Traceback" not in caplog.text and caplog.records[0].exc_info is None


def test_a_good_token_passes_and_whoami_tells_who(tokens: TokenStore, store: Store) -> None:
    _, token = tokens.create("dana@corp.example", "auditor", ["DE01"])
    with TestClient(create_app(make_lineage(store).settings, store, AuthSettings())) as client:
        me = client.get("/api/v1/whoami", headers=bearer(token)).json()
        revoked_id = tokens.create("eve", "viewer")[0].id
        gone = client.delete(f"/api/v1/tokens/{revoked_id}", headers=bearer(token))
    assert me == {
        "subject": "dana@corp.example",
        "role": "auditor",
        "via": f"token:{token[4:20]}",
        "scope": {"legal_entities": ["DE01"], "regions": []},
        "permissions": ["audit", "export", "read"],
    }
    assert gone.status_code == 403


def test_auth_off_is_a_local_admin_and_refused_beyond_loopback(store: Store) -> None:
    auth_tables(store)
    off = AuthSettings(api_auth="off")
    with TestClient(create_app(make_lineage(store).settings, store, off)) as client:
        me = client.get("/api/v1/whoami").json()
    assert (me["subject"], me["role"], me["via"]) == ("local", "admin", "auth-off")
    off.check("127.0.0.1")
    from collector.store.errors import ConfigError

    with pytest.raises(ConfigError, match=r"refusing to serve the API on 0.0.0.0"):
        off.check("0.0.0.0")
    off.check("0.0.0.0", insecure=True)
    with pytest.raises(ConfigError, match="ISSUER and LEDGERLINE_OIDC_AUDIENCE are required"):
        AuthSettings(oidc_jwks_url="http://127.0.0.1:1/jwks").check("127.0.0.1")


def test_store_outage_during_the_token_check_is_503(
    tokens: TokenStore, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    _, token = tokens.create("olga@corp.example", "viewer")
    auth = AuthSettings(token_cache_ttl_s=0)  # every request reads the token table
    with TestClient(create_app(make_lineage(store).settings, store, auth), raise_server_exceptions=False) as client:
        assert client.get("/api/v1/whoami", headers=bearer(token)).status_code == 200
        store.command("DETACH TABLE api_tokens")
        try:
            with caplog.at_level(logging.WARNING, logger="lineage.auth.middleware"):
                down = client.get("/api/v1/whoami", headers=bearer(token))
        finally:
            store.command("ATTACH TABLE api_tokens")
        assert client.get("/api/v1/whoami", headers=bearer(token)).status_code == 200
    assert down.status_code == 503 and down.headers["Retry-After"] == "2"
    assert "store is unavailable" in down.json()["detail"] and token not in down.text
    assert "WWW-Authenticate" not in down.headers  # the credential was not judged
    assert len(caplog.records) == 1 and caplog.records[0].exc_info is None and "Traceback" not in caplog.text
    assert "503 GET /api/v1/whoami" in caplog.records[0].getMessage() and token not in caplog.text
