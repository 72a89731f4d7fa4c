"""Errors raised by the collector and the store API.

The hierarchy::

    LedgerlineError
    ├── ConfigError            settings that cannot work (bad DSN, unsafe bind)
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
