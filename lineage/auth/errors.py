"""Errors of the auth layer: a credential refused (401) or granting no role (403)."""

from __future__ import annotations

from collector.store.errors import LedgerlineError


class AuthError(LedgerlineError):
    """An API credential that is missing, malformed, expired, revoked or badly signed (401).

    ``error`` is the RFC 6750 error code for ``WWW-Authenticate`` (empty when no credential
    was sent at all, as the RFC asks).
    """

    status = 401

    def __init__(self, message: str, error: str = "invalid_token") -> None:
        super().__init__(message)
        self.error = error


class AccessDenied(AuthError):
    """A genuine credential that carries no role ledgerline knows (403)."""

    status = 403

    def __init__(self, message: str) -> None:
        super().__init__(message, "insufficient_scope")
