"""OIDC bearer JWTs: keys generated here, the JWKS served by a real HTTP server on loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from collector.store import Store
from lineage.api.app import create_app
from lineage.auth.settings import AuthSettings
from tests.lineage.auth.helpers import auth_tables
from tests.lineage.conftest import make_lineage

ISSUER, AUDIENCE = "https://idp.test/realms/finance", "ledgerline-api"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


class Jwks:
    """A JWKS endpoint on 127.0.0.1 that counts its fetches."""

    def __init__(self) -> None:
        rsa_jwk = json.loads(RSAAlgorithm.to_jwk(RSA_KEY.public_key())) | {"kid": "rsa1", "use": "sig"}
        ec_jwk = json.loads(ECAlgorithm.to_jwk(EC_KEY.public_key())) | {"kid": "ec1", "use": "sig"}
        body = json.dumps({"keys": [rsa_jwk, ec_jwk]}).encode()
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        self.body = body
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def jwks() -> Iterator[Jwks]:
    served = Jwks()
    yield served
    served.server.shutdown()


def _settings(jwks: Jwks, **extra: Any) -> AuthSettings:
    return AuthSettings(oidc_jwks_url=jwks.url, oidc_issuer=ISSUER, oidc_audience=AUDIENCE, **extra)


@pytest.fixture
def client(jwks: Jwks, store: Store) -> Iterator[TestClient]:
    auth_tables(store)
    with TestClient(create_app(make_lineage(store).settings, store, _settings(jwks))) as c:
        yield c


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "frank@corp.example",
        "iat": now,
        "exp": now + 300,
        "ledgerline_role": "operator",
        "ledgerline_legal_entities": ["DE01", "FR02"],
        "ledgerline_regions": "eu-west, eu-central",
    }
    return {k: v for k, v in (claims | changes).items() if v is not None}


def _rs256(claims: dict[str, Any], kid: str = "rsa1") -> str:
    return jwt.encode(claims, RSA_KEY, algorithm="RS256", headers={"kid": kid})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: dict[str, Any], claims: dict[str, Any], sign: Any) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


def _tampered(token: str) -> str:
    head, body, sig = token.split(".")
    middle = len(sig) // 2
    return f"{head}.{body}.{sig[:middle]}{'A' if sig[middle] != 'A' else 'B'}{sig[middle + 1 :]}"


def _whoami(client: TestClient, token: str) -> Any:
    return client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})


def test_a_good_token_maps_role_and_scope(client: TestClient) -> None:
    me = _whoami(client, _rs256(_claims())).json()
    assert me["subject"] == "frank@corp.example" and me["role"] == "operator" and me["via"] == "oidc"
    assert me["scope"] == {"legal_entities": ["DE01", "FR02"], "regions": ["eu-central", "eu-west"]}
    es = jwt.encode(_claims(ledgerline_role=["viewer"]), EC_KEY, algorithm="ES256", headers={"kid": "ec1"})
    assert _whoami(client, es).json()["role"] == "viewer"


@pytest.mark.parametrize(
    ("token", "needle"),
    [
        (lambda: _rs256(_claims(iss="https://evil.test")), "issuer"),
        (lambda: _rs256(_claims(aud="another-api")), "audience"),
        (lambda: _rs256(_claims(exp=int(time.time()) - 120)), "expired"),
        (lambda: _rs256(_claims(exp=None)), "exp"),
        (lambda: _forge({"alg": "none", "kid": "rsa1"}, _claims(), lambda _: b""), "'none' is not accepted"),
        (
            lambda: _forge(
                {"alg": "HS256", "kid": "rsa1", "typ": "JWT"},
                _claims(),
                lambda data: hmac.new(
                    RSA_KEY.public_key().public_bytes(
                        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                    ),
                    data,
                    hashlib.sha256,
                ).digest(),
            ),
            "'HS256' is not accepted",
        ),
        (lambda: _rs256(_claims(), kid="nope"), "no signing key"),
        (lambda: _tampered(_rs256(_claims())), "signature"),
        (lambda: jwt.encode(_claims(), RSA_KEY, algorithm="RS256", headers={"kid": "ec1"}), "does not fit"),
        (lambda: _rs256(_claims(pad="x" * 9000)), "longer than"),
    ],
)
def test_bad_tokens_are_401(client: TestClient, token: Any, needle: str, caplog: pytest.LogCaptureFixture) -> None:
    sent = token()
    with caplog.at_level(logging.WARNING):
        response = _whoami(client, sent)
    # One line from the auth layer, no traceback anywhere, and never the token itself.
    assert [r.name for r in caplog.records] == ["lineage.auth.middleware"], caplog.text
    assert caplog.records[0].exc_info is None and "Traceback" not in caplog.text and sent not in caplog.text
    assert response.status_code == 401, response.text
    assert needle.lower() in response.json()["detail"].lower() and response.headers["WWW-Authenticate"].startswith(
        "Bearer"
    )


def test_an_unknown_role_is_403(client: TestClient) -> None:
    for role in ("superuser", None, ["viewer", "admin"]):
        response = _whoami(client, _rs256(_claims(ledgerline_role=role)))
        assert response.status_code == 403 and "ledgerline_role" in response.json()["detail"]


def test_unknown_kids_do_not_hammer_the_identity_provider(jwks: Jwks, store: Store) -> None:
    auth_tables(store)
    app = create_app(make_lineage(store).settings, store, _settings(jwks, oidc_jwks_min_refresh_s=60))
    before = jwks.fetches
    with TestClient(app) as c:
        for i in range(10):
            assert _whoami(c, _rs256(_claims(), kid=f"random-{i}")).status_code == 401
        assert _whoami(c, _rs256(_claims())).status_code == 200
    assert jwks.fetches - before <= 2


def test_a_jwks_file_and_configurable_claims(jwks: Jwks, store: Store, tmp_path: Path) -> None:
    auth_tables(store)
    path = tmp_path / "jwks.json"
    path.write_bytes(jwks.body)
    settings = AuthSettings(
        oidc_jwks_file=path,
        oidc_issuer=ISSUER,
        oidc_audience=AUDIENCE,
        oidc_role_claim="groups",
        oidc_subject_claim="email",
    )
    settings.check("127.0.0.1")
    with TestClient(create_app(make_lineage(store).settings, store, settings)) as c:
        me = _whoami(c, _rs256(_claims(groups="staff auditor", email="gina@corp.example"))).json()
        # An email claim in another case is the same person (four-eyes, sign-off and the log compare it).
        upper = _whoami(c, _rs256(_claims(groups="auditor", email=" Gina@CORP.example"))).json()
    assert (me["subject"], me["role"]) == ("gina@corp.example", "auditor")
    assert upper["subject"] == "gina@corp.example"
