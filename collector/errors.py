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
        ├── UnsupportedMediaType  a Content-Type that is not OTLP (415)
        ├── BodyTimeout        the body did not arrive within the deadline (408)
        ├── Overloaded         the write queue is full, retry later (429)
        └── Busy               too many requests in progress, retry later (503)

Lower-layer errors (clickhouse-connect, chdb, protobuf, zlib) are mapped at the
boundary with ``raise ... from exc`` so callers catch only these.
"""

from __future__ import annotations


class LedgerlineError(Exception):
    """Base class of every error ledgerline raises on purpose."""


class ConfigError(LedgerlineError):
    """Settings that cannot work, such as an unsafe bind address."""


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


class UnsupportedMediaType(IngestError):
    """The Content-Type is neither OTLP protobuf nor OTLP/JSON."""

    status = 415


class BodyTimeout(IngestError):
    """The request body did not arrive within the body read deadline."""

    status = 408


class Busy(IngestError):
    """Too many export requests are in progress; the client should retry after a delay."""

    status = 503
