"""The collector's own errors: an OTLP export request refused as a whole.

Each protocol maps them to its answer in one table (collector/outcome.py: HTTP status,
gRPC code, ``Retry-After``); they carry no status of their own. The base of the tree and
the store's errors are in collector/store/errors.py.
"""

from __future__ import annotations

from collector.store.errors import LedgerlineError

__all__ = [
    "BodyTimeout",
    "Busy",
    "IngestError",
    "MalformedPayload",
    "Overloaded",
    "PayloadTooLarge",
    "Unauthorized",
    "UnsupportedMediaType",
]


class IngestError(LedgerlineError):
    """An OTLP export request that cannot be accepted as a whole."""


class MalformedPayload(IngestError):
    """The body is not a valid OTLP export request (400)."""


class PayloadTooLarge(IngestError):
    """The body, compressed or not, is over the configured limit (413)."""


class Unauthorized(IngestError):
    """The request carries no valid ingest token (401)."""


class Overloaded(IngestError):
    """The write queue is full; the client should retry after a delay (429)."""


class UnsupportedMediaType(IngestError):
    """The Content-Type is neither OTLP protobuf nor OTLP/JSON (415)."""


class BodyTimeout(IngestError):
    """The request body did not arrive within the body read deadline (408)."""


class Busy(IngestError):
    """Too many export requests are in progress; the client should retry after a delay (503)."""
