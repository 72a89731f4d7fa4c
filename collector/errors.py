"""Errors raised by the collector and the store API.

The hierarchy::

    LedgerlineError
    ├── ConfigError            settings that cannot work (bad DSN, unsafe bind)
    ├── EvidenceError          sealing or an evidence pack failed (lineage/evidence)
    │   └── VerificationFailed a pack or the store does not verify; names the check
    ├── StoreError             the store refused or failed a statement
    │   ├── StoreUnavailable   the store cannot be reached or a table is offline
    │   └── QueryTimeout       a bounded query ran past its time limit
    └── IngestError            an OTLP request that cannot be accepted as a whole
        ├── MalformedPayload   the body cannot be decoded (400)
        ├── PayloadTooLarge    the body is over the size limit (413)
        ├── Unauthorized       a missing or wrong ingest token (401)
        └── Overloaded         the write queue is full, retry later (429)

Lower-layer errors (clickhouse-connect, chdb, protobuf, zlib) are mapped at the
boundary with ``raise ... from exc`` so callers catch only these.
"""

from __future__ import annotations


class LedgerlineError(Exception):
    """Base class of every error ledgerline raises on purpose."""


class ConfigError(LedgerlineError):
    """Settings that cannot work, such as an unsafe bind address."""


class EvidenceError(LedgerlineError):
    """Sealing, exporting or reading evidence failed (not a verification verdict)."""


class VerificationFailed(EvidenceError):
    """Evidence does not verify; ``check`` names the first failed check."""

    def __init__(self, check: str, detail: str = "") -> None:
        super().__init__(f"{check}: {detail}" if detail else check)
        self.check = check
        self.detail = detail


class StoreError(LedgerlineError):
    """The store refused or failed a statement."""


class StoreUnavailable(StoreError):
    """The store cannot be reached, or a table it needs is offline."""


class QueryTimeout(StoreError):
    """A bounded query ran past its time limit."""


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
