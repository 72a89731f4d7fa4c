"""From an ``Authorization`` header to a :class:`Principal`, or an :class:`AuthError`.

API tokens (``llt_...``) and JWTs (three base64url parts) are told apart by shape. A
verified token record is cached for ``token_cache_ttl_s`` seconds, so a lookup costs a
hash and a dict read; revocation reaches every process sharing the store within that TTL.
Expiry is checked against the clock on every request, never cached.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from collector.store import Store
from lineage.auth.errors import AuthError
from lineage.auth.oidc import JwtVerifier
from lineage.auth.principal import Principal
from lineage.auth.settings import AuthSettings
from lineage.auth.tokens import PREFIX, TokenRecord, TokenStore, parse_token
from lineage.core.timeparse import utcnow

_JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
_CACHE_ENTRIES = 10_000


class Authenticator:
    """Verifies bearer credentials against the token table and, when configured, a JWKS."""

    def __init__(self, settings: AuthSettings, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.tokens = TokenStore(store)
        self.jwt = JwtVerifier(settings) if settings.oidc_configured else None
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, TokenRecord | None]] = OrderedDict()
        self._lock = threading.Lock()

    def authenticate(self, header: str | None) -> Principal:
        """The principal a request's ``Authorization`` header proves."""
        if header is None or not header.strip():
            raise AuthError("authentication required: send Authorization: Bearer <token>", error="")
        if len(header) > self.settings.max_credential_bytes:
            raise AuthError(f"credential longer than {self.settings.max_credential_bytes} bytes", "invalid_request")
        scheme, _, credential = header.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential or " " in credential:
            raise AuthError("malformed Authorization header: expected 'Bearer <token>'", "invalid_request")
        if credential.startswith(PREFIX):
            return self._api_token(credential)
        if _JWT_SHAPE.match(credential):
            if self.jwt is None:
                raise AuthError("JWT bearer tokens are not accepted here (no OIDC provider configured)")
            return self.jwt.verify(credential)
        raise AuthError("unrecognised credential: neither an API token nor a JWT")

    def _api_token(self, credential: str) -> Principal:
        parsed = parse_token(credential)
        if parsed is None:
            raise AuthError("malformed API token")
        token_id, secret = parsed
        record = self._record(token_id)
        if record is None or not record.matches(secret):
            raise AuthError("unknown API token")
        state = record.state(utcnow())
        if state != "active":
            raise AuthError(f"API token {token_id} is {state}")
        return record.principal()

    def _record(self, token_id: str) -> TokenRecord | None:
        now = self._clock()
        ttl = self.settings.token_cache_ttl_s
        with self._lock:
            hit = self._cache.get(token_id)
            if hit is not None and now - hit[0] < ttl:
                return hit[1]
        record = self.tokens.get(token_id)
        with self._lock:
            self._cache[token_id] = (now, record)
            self._cache.move_to_end(token_id)
            while len(self._cache) > _CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return record

    def forget(self, token_id: str) -> None:
        """Drop a cached token (this process revoked it: no need to wait for the TTL)."""
        with self._lock:
            self._cache.pop(token_id, None)
