"""The outcome of one export call, shared by OTLP/HTTP and OTLP/gRPC.

:meth:`collector.ingest.Ingestor.export_async` returns an :class:`Outcome`; each transport maps
its :class:`Kind` through one table (``collector.http.STATUS``, ``collector.grpc_server.CODES``).
:func:`failed` is the one ladder from an error to a kind.
"""

from __future__ import annotations

import enum
from concurrent import futures
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collector.errors import (
    BodyTimeout,
    Busy,
    IngestError,
    MalformedPayload,
    Overloaded,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
)
from collector.store.errors import LedgerlineError, StoreError, StoreUnavailable


class Kind(enum.Enum):
    """What happened to an export request, whatever the transport."""

    ACCEPTED = "ok"  # every span stored, or stored but for the rejected ones (partial success)
    MALFORMED = "malformed"  # the body cannot be decoded
    TOO_LARGE = "too_large"
    UNSUPPORTED = "unsupported"  # content type
    UNAUTHORIZED = "unauthorized"
    BODY_TIMEOUT = "body_timeout"  # the body did not arrive in time
    OVERLOADED = "overloaded"  # write queue full: retry later
    BUSY = "busy"  # too many requests in progress: retry later
    UNAVAILABLE = "unavailable"  # store down or shutting down: retry later
    REFUSED = "store_rejected"  # the store refused the data: retrying will not help

    @property
    def retryable(self) -> bool:
        """True when the client should send the same request again later."""
        return self in _RETRYABLE


_RETRYABLE = frozenset((Kind.OVERLOADED, Kind.BUSY, Kind.UNAVAILABLE))

# Most specific class first: the first isinstance match wins.
_LADDER: tuple[tuple[type[BaseException], Kind], ...] = (
    (Overloaded, Kind.OVERLOADED),
    (Busy, Kind.BUSY),
    (BodyTimeout, Kind.BODY_TIMEOUT),
    (UnsupportedMediaType, Kind.UNSUPPORTED),
    (Unauthorized, Kind.UNAUTHORIZED),
    (PayloadTooLarge, Kind.TOO_LARGE),
    (MalformedPayload, Kind.MALFORMED),
    (IngestError, Kind.MALFORMED),
    (StoreUnavailable, Kind.UNAVAILABLE),
    (futures.TimeoutError, Kind.UNAVAILABLE),
    (StoreError, Kind.REFUSED),
)


@dataclass(frozen=True)
class Outcome:
    """An export's result: a kind, a message, the response (when accepted), a retry delay."""

    kind: Kind
    message: str = ""
    response: ExportTraceServiceResponse | None = None
    retry_after_s: int | None = None


def accepted(response: ExportTraceServiceResponse) -> Outcome:
    """Stored (``response`` carries the partial success, if any)."""
    return Outcome(Kind.ACCEPTED, response.partial_success.error_message, response)


def failed(exc: BaseException, retry_after_s: int) -> Outcome:
    """The outcome of an export that raised ``exc`` (a collector error or a commit timeout)."""
    for cls, kind in _LADDER:
        if isinstance(exc, cls):
            message = str(exc) or type(exc).__name__
            if kind is Kind.UNAVAILABLE:
                message = f"store unavailable, retry later: {message}"
            elif kind is Kind.REFUSED:
                message = f"the store refused the data: {message}"
            return Outcome(kind, message, None, retry_after_s if kind.retryable else None)
    raise TypeError(f"no outcome for {type(exc).__name__}") from exc


HANDLED: tuple[type[BaseException], ...] = (LedgerlineError, futures.TimeoutError)
"""The errors :func:`failed` maps; anything else is a bug and propagates."""
