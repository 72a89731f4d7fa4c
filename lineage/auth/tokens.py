"""API tokens: ``llt_<id>_<secret>``, stored as the SHA-256 of the secret, revoked by an
appended row.

The secret is 256 random bits, so a fast hash is enough (it is not a password that could
be guessed); the id in the token makes lookup a primary-key seek, and the hash comparison
is constant-time (:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from collector.store import Store
from lineage.auth import queries
from lineage.auth.principal import ROLES, Principal, Role, normalise_subject
from lineage.core.scope import EVERYTHING, Scope
from lineage.core.timeparse import utcnow

PREFIX = "llt_"
_SHAPE = re.compile(r"^llt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
MAX_LISTED = 10_000


def hash_secret(secret: str) -> str:
    """The stored form of a token secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> tuple[str, str, str]:
    """A fresh (token id, secret, full token string)."""
    token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    return token_id, secret, f"{PREFIX}{token_id}_{secret}"


def parse_token(token: str) -> tuple[str, str] | None:
    """(id, secret) of a well-formed API token, else None."""
    match = _SHAPE.match(token)
    return (match.group(1), match.group(2)) if match else None


@dataclass(frozen=True)
class TokenRecord:
    """One API token as stored: never the secret, only its hash."""

    id: str
    subject: str
    role: Role
    legal_entities: tuple[str, ...]
    regions: tuple[str, ...]
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    secret_hash: str = field(repr=False)
    revoked_at: datetime | None = None
    revoked_by: str = ""

    def state(self, now: datetime) -> str:
        """``active``, ``expired`` or ``revoked`` at ``now``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"

    def matches(self, secret: str) -> bool:
        """Constant-time check of a presented secret against the stored hash."""
        return hmac.compare_digest(hash_secret(secret), self.secret_hash)

    def principal(self) -> Principal:
        """Who a request carrying this token is."""
        return Principal(self.subject, self.role, Scope(self.legal_entities, self.regions), via=f"token:{self.id}")

    def public(self, now: datetime) -> dict[str, Any]:
        """The record as shown to an admin: no secret, no hash."""
        return {
            "id": self.id,
            "subject": self.subject,
            "role": self.role,
            "legal_entities": list(self.legal_entities),
            "regions": list(self.regions),
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "revoked_by": self.revoked_by,
            "state": self.state(now),
        }


def _utc(value: datetime | None) -> datetime | None:
    # The driver returns Nullable(DateTime64) columns naive even with a UTC column timezone.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def fold(rows: Iterable[Sequence[Any]]) -> list[TokenRecord]:
    """Token records from event rows (ordered by id, then time): creation, then revocation."""
    records: dict[str, TokenRecord] = {}
    for token_id, event, at, actor, subject, role, les, regions, secret_hash, expires in rows:
        if event == "create" and token_id not in records:
            records[token_id] = TokenRecord(
                token_id, subject, role, tuple(les), tuple(regions), _utc(at) or at, actor, _utc(expires), secret_hash
            )
        elif event == "revoke" and token_id in records and records[token_id].revoked_at is None:
            records[token_id] = replace(records[token_id], revoked_at=_utc(at), revoked_by=actor)
    return list(records.values())


class TokenStore:
    """API tokens in one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(
        self,
        subject: str,
        role: str,
        legal_entities: Sequence[str] = (),
        regions: Sequence[str] = (),
        expires_in: timedelta | None = None,
        created_by: str = "cli",
    ) -> tuple[TokenRecord, str]:
        """Store a new token; returns its record and the token string (shown once, never stored)."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        subject = normalise_subject(subject)
        if not subject:
            raise ValueError("the subject may not be empty")
        token_id, secret, token = new_token()
        now = utcnow()
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # the column keeps milliseconds
        expires = now + expires_in if expires_in is not None else None
        les, rgs = clean_names(legal_entities), clean_names(regions)
        row = [token_id, "create", now, created_by, subject, role, les, rgs, hash_secret(secret), expires]
        self.store.insert("api_tokens", [row], queries.TOKEN_COLUMNS)
        record = TokenRecord(
            token_id, subject, role, tuple(les), tuple(rgs), now, created_by, expires, hash_secret(secret)
        )
        return record, token

    def get(self, token_id: str, scope: Scope = EVERYTHING) -> TokenRecord | None:
        """The token with this id, or None (also when its scope is not within ``scope``)."""
        found = fold(self.store.query(queries.SELECT_TOKEN, {"id": token_id, **scope.params()}))
        return found[0] if found else None

    def list(self, scope: Scope = EVERYTHING) -> list[TokenRecord]:
        """Every token ever created (revoked and expired included) whose scope lies within
        ``scope``, oldest id first."""
        return fold(self.store.query(queries.SELECT_TOKENS, {"limit": MAX_LISTED * 2, **scope.params()}))

    def count(self) -> int:
        """How many tokens were ever created."""
        return int(self.store.query(queries.COUNT_TOKENS)[0][0])

    def revoke(self, token_id: str, by: str = "cli", scope: Scope = EVERYTHING) -> TokenRecord | None:
        """Append a revocation; None when there is no such token within ``scope``. Revoking twice is a no-op."""
        record = self.get(token_id, scope)
        if record is None or record.revoked_at is not None:
            return record
        now = utcnow()
        row = [token_id, "revoke", now, by, record.subject, record.role, [], [], "", None]
        self.store.insert("api_tokens", [row], queries.TOKEN_COLUMNS)
        return replace(record, revoked_at=now, revoked_by=by)


def clean_names(values: Sequence[str]) -> list[str]:
    """Scope names as stored: trimmed, without blanks or repeats, sorted."""
    return sorted({v.strip() for v in values if v.strip()})
