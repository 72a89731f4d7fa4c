"""Errors raised by the collector and the store API.

The hierarchy::

    LedgerlineError
    ├── ConfigError            settings that cannot work (bad DSN, unsafe bind)
    ├── AuthError              an API credential that cannot be accepted (401)
    │   └── AccessDenied       a valid credential that grants no role (403)
    ├── StoreError             the store refused or failed a statement
    │   ├── StoreUnavailable   the store cannot be reached or a table is offline
    │   └── QueryTimeout       a bounded query ran past its time limit
    └── IngestError            an OTLP request that cannot be accepted as a whole
        ├── MalformedPayload   the body cannot be decoded (400)
        ├── PayloadTooLarge    the body is over the size limit (413)
        ├── Unauthorized       a missing or wrong ingest token (401)
        └── Overloaded         the write queue is full, retry later (429)

The base classes and the store errors live in collector/store/errors.py (the lowest
layer); they are re-exported here. Lower-layer errors (clickhouse-connect, chdb,
protobuf, zlib) are mapped at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations

from collector.store.errors import ConfigError, LedgerlineError, QueryTimeout, StoreError, StoreUnavailable

__all__ = [
    "AccessDenied",
    "AuthError",
    "ConfigError",
    "IngestError",
    "LedgerlineError",
    "MalformedPayload",
    "Overloaded",
    "PayloadTooLarge",
    "QueryTimeout",
    "StoreError",
    "StoreUnavailable",
    "Unauthorized",
]


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


class IngestError(LedgerlineError):
    """An OTLP export request that cannot be accepted as a whole."""

    status = 400


class MalformedPayload(IngestError):
    """The body is not a valid OTLP export request."""

    status = 400


class PayloadTooLarge(IngestError):
    """The body, compressed or not, is over the configured limit."""

    status = 413


class Unauthorized(IngestError):
    """The request carries no valid ingest token."""

    status = 401


class Overloaded(IngestError):
    """The write queue is full; the client should retry after a delay."""

    status = 429
