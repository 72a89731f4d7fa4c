"""Errors raised by the collector and the store API.

The hierarchy::

    LedgerlineError
    ├── ConfigError            settings that cannot work (bad DSN, unsafe bind)
    ├── AuthError              an API credential that cannot be accepted (401)
    │   └── AccessDenied       a valid credential that grants no role (403)
    ├── EvidenceError          sealing or an evidence pack failed (lineage/evidence)
    │   └── VerificationFailed a pack or the store does not verify; names the check
    ├── StoreError             the store refused or failed a statement
    │   ├── StoreUnavailable   the store cannot be reached or a table is offline
    │   │   └── StoreLocked    another process holds the embedded store
    │   └── QueryTimeout       a bounded query ran past its time limit
    └── IngestError            an OTLP request that cannot be accepted as a whole
        ├── MalformedPayload   the body cannot be decoded (400)
        ├── PayloadTooLarge    the body is over the size limit (413)
        ├── Unauthorized       a missing or wrong ingest token (401)
        ├── UnsupportedMediaType  a Content-Type that is not OTLP (415)
        ├── BodyTimeout        the body did not arrive within the deadline (408)
        ├── Overloaded         the write queue is full, retry later (429)
        └── Busy               too many requests in progress, retry later (503)

This module imports nothing, so any layer (the offline evidence verifier too) can use it;
the store package re-exports its errors from collector/store/errors.py. Lower-layer errors (clickhouse-connect, chdb,
protobuf, zlib) are mapped at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "AuthError",
    "ConfigError",
    "EvidenceError",
    "IngestError",
    "LedgerlineError",
    "MalformedPayload",
    "Overloaded",
    "PayloadTooLarge",
    "QueryTimeout",
    "StoreError",
    "StoreLocked",
    "StoreUnavailable",
    "Unauthorized",
    "VerificationFailed",
]


class LedgerlineError(Exception):
    """Base class of every error ledgerline raises on purpose."""


class ConfigError(LedgerlineError):
    """Settings that cannot work, such as an unsafe bind address or an unreadable file."""


class StoreError(LedgerlineError):
    """The store refused or failed a statement."""


class StoreUnavailable(StoreError):
    """The store cannot be reached, or a table it needs is offline."""


class StoreLocked(StoreUnavailable):
    """Another process holds the embedded store (chdb opens a data directory in one process only)."""


class QueryTimeout(StoreError):
    """A bounded query ran past its time limit."""


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


class EvidenceError(LedgerlineError):
    """Sealing, exporting or reading evidence failed (not a verification verdict)."""


class VerificationFailed(EvidenceError):
    """Evidence does not verify; ``check`` names the first failed check."""

    def __init__(self, check: str, detail: str = "") -> None:
        super().__init__(f"{check}: {detail}" if detail else check)
        self.check = check
        self.detail = detail


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


class UnsupportedMediaType(IngestError):
    """The Content-Type is neither OTLP protobuf nor OTLP/JSON."""

    status = 415


class BodyTimeout(IngestError):
    """The request body did not arrive within the body read deadline."""

    status = 408


class Busy(IngestError):
    """Too many export requests are in progress; the client should retry after a delay."""

    status = 503
