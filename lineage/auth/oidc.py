"""OIDC / JWT bearer tokens: signature against a JWKS, then issuer, audience and expiry;
role and scope from configurable claims.

Only asymmetric algorithms are accepted and the key's type must fit the token's ``alg``,
so neither ``alg: none`` nor HS256 signed with the public key gets through. An unknown
``kid`` refetches the JWKS at most every ``oidc_jwks_min_refresh_s`` seconds, so random
``kid`` values cannot make the server hammer the identity provider.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet

from collector.store.errors import ConfigError
from lineage.auth.errors import AccessDenied, AuthError
from lineage.auth.principal import ROLES, Principal, Role
from lineage.auth.settings import AuthSettings
from lineage.core.scope import Scope

log = logging.getLogger(__name__)

_FAMILY = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


def _family(alg: str) -> str:
    return _FAMILY.get(alg[:2], "?")


def claim_values(value: object) -> list[str]:
    """A claim as a list of strings: a JSON list, or a comma/space-separated string."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [str(value)]


class _Keys:
    """The JWKS: fetched from a URL (cached) or read from a file once."""

    def __init__(self, settings: AuthSettings) -> None:
        self._client: PyJWKClient | None = None
        self._fixed: PyJWKSet | None = None
        self._min_refresh_s = settings.oidc_jwks_min_refresh_s
        self._last_refresh = 0.0
        self._lock = threading.Lock()
        if settings.oidc_jwks_url:
            self._client = PyJWKClient(
                settings.oidc_jwks_url, cache_jwk_set=True, lifespan=settings.oidc_jwks_cache_s, timeout=5
            )
        elif settings.oidc_jwks_file:
            try:
                self._fixed = PyJWKSet.from_json(settings.oidc_jwks_file.read_text())
            except (OSError, ValueError, jwt.PyJWTError) as exc:
                raise ConfigError(f"cannot read the JWKS file {settings.oidc_jwks_file}: {exc}") from exc

    def _set(self, refresh: bool) -> PyJWKSet:
        if self._fixed is not None:
            return self._fixed
        assert self._client is not None
        try:
            return self._client.get_jwk_set(refresh=refresh)
        except jwt.PyJWKClientError as exc:
            raise AuthError(f"the signing keys could not be fetched: {exc}") from exc

    def find(self, kid: str | None) -> PyJWK:
        """The key named ``kid`` (or the only key when the token names none)."""
        keys = self._set(refresh=False).keys
        key = _pick(keys, kid)
        if key is None and self._client is not None:
            with self._lock:
                due = time.monotonic() - self._last_refresh >= self._min_refresh_s
                if due:
                    self._last_refresh = time.monotonic()
            if due:
                key = _pick(self._set(refresh=True).keys, kid)
        if key is None:
            raise AuthError("no signing key matches the token's kid" if kid else "the token names no signing key")
        return key


def _pick(keys: list[PyJWK], kid: str | None) -> PyJWK | None:
    if kid is None:
        return keys[0] if len(keys) == 1 else None
    return next((k for k in keys if k.key_id == kid), None)


class JwtVerifier:
    """Turns a JWT into a :class:`Principal` or raises :class:`AuthError`."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self.keys = _Keys(settings)

    def verify(self, token: str) -> Principal:
        """Check signature, issuer, audience and expiry; map the claims."""
        s = self.settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError(f"malformed JWT: {exc}") from exc
        alg = str(header.get("alg", ""))
        if alg not in s.oidc_algorithms:
            raise AuthError(f"JWT algorithm {alg or 'none'!r} is not accepted")
        kid = header.get("kid")
        key = self.keys.find(str(kid) if kid is not None else None)
        if _family(alg) != _family(key.algorithm_name):
            raise AuthError(f"JWT algorithm {alg!r} does not fit the signing key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=s.oidc_audience,
                issuer=s.oidc_issuer,
                leeway=s.oidc_leeway_s,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("the JWT has expired") from exc
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise AuthError(f"JWT rejected: {exc}") from exc
        return self.principal(claims)

    def principal(self, claims: dict[str, Any]) -> Principal:
        """The principal the verified claims describe; 403 when they carry no known role."""
        s = self.settings
        subject = str(claims.get(s.oidc_subject_claim) or "").strip()
        if not subject:
            raise AuthError(f"the JWT has no {s.oidc_subject_claim!r} claim")
        roles = [r for r in claim_values(claims.get(s.oidc_role_claim)) if r in ROLES]
        if len(set(roles)) != 1:
            found = json.dumps(claims.get(s.oidc_role_claim))
            raise AccessDenied(f"claim {s.oidc_role_claim!r} must name exactly one of {', '.join(ROLES)}; got {found}")
        role: Role = roles[0]
        scope = Scope(
            tuple(sorted(set(claim_values(claims.get(s.oidc_legal_entities_claim))))),
            tuple(sorted(set(claim_values(claims.get(s.oidc_regions_claim))))),
        )
        return Principal(subject, role, scope, via="oidc")
