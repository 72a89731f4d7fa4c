"""OTLP/gRPC receiver: ``TraceService/Export`` on the same export call as HTTP.

:data:`CODES` maps each export outcome to a status. Retryable outcomes carry a
``google.rpc.RetryInfo``, as the OTLP specification asks (RESOURCE_EXHAUSTED is
retryable *only* with it; the Go exporter drops the data otherwise): in the status
details (``grpc-status-details-bin``, read by Go and Java) and as
``google.rpc.retryinfo-bin`` (read by the Python exporter).

The method receives the raw message bytes and parses them itself, so a malformed message
is one INVALID_ARGUMENT with one log line, not a gRPC-internal traceback. At most
``workers`` exports run at once; more get RESOURCE_EXHAUSTED with RetryInfo.
"""

from __future__ import annotations

import logging
import threading
from concurrent import futures

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collector import otlp
from collector.errors import Busy, Unauthorized
from collector.ingest import Ingestor
from collector.outcome import Kind, Outcome

log = logging.getLogger(__name__)

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
CODES: dict[Kind, grpc.StatusCode] = {
    Kind.ACCEPTED: grpc.StatusCode.OK,
    Kind.MALFORMED: grpc.StatusCode.INVALID_ARGUMENT,
    Kind.REFUSED: grpc.StatusCode.INVALID_ARGUMENT,
    Kind.TOO_LARGE: grpc.StatusCode.INVALID_ARGUMENT,
    Kind.UNSUPPORTED: grpc.StatusCode.INVALID_ARGUMENT,
    Kind.UNAUTHORIZED: grpc.StatusCode.UNAUTHENTICATED,
    Kind.BODY_TIMEOUT: grpc.StatusCode.DEADLINE_EXCEEDED,
    Kind.OVERLOADED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Kind.BUSY: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Kind.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
}


def trailers(code: grpc.StatusCode, message: str, retry_after_s: int | None) -> tuple[tuple[str, bytes], ...]:
    """Trailing metadata for a failed export: RetryInfo in both places SDKs look for it."""
    if retry_after_s is None:
        return ()
    info = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=retry_after_s))
    packed = any_pb2.Any()
    packed.Pack(info)
    status = status_pb2.Status(code=code.value[0], message=message, details=[packed])
    return (
        ("grpc-status-details-bin", status.SerializeToString()),
        ("google.rpc.retryinfo-bin", info.SerializeToString()),
    )


def answer(context: grpc.ServicerContext, outcome: Outcome) -> ExportTraceServiceResponse:
    """The response of an export outcome (abort for anything but accepted)."""
    if outcome.kind is Kind.ACCEPTED:
        assert outcome.response is not None
        return outcome.response
    code = CODES[outcome.kind]
    metadata = trailers(code, outcome.message, outcome.retry_after_s)
    if metadata:
        context.set_trailing_metadata(metadata)
    if outcome.kind is Kind.MALFORMED:
        log.info("gRPC export refused: %s", outcome.message)
    context.abort(code, outcome.message)
    raise AssertionError("unreachable")  # abort raises


class TraceService:
    """The OTLP trace service backed by an :class:`Ingestor`, with an in-progress limit."""

    def __init__(self, ingestor: Ingestor, limit: int) -> None:
        self._ingestor = ingestor
        self._limit = limit
        self._active = 0
        self._lock = threading.Lock()

    def export(self, message: bytes, context: grpc.ServicerContext) -> ExportTraceServiceResponse:
        """Authenticate, run the export call, answer (waits for the commit)."""
        ingestor = self._ingestor
        with self._lock:
            busy = self._active >= self._limit
            if not busy:
                self._active += 1
        if busy:
            outcome = ingestor.failure(Busy(f"{self._limit} exports in progress, retry later"), "grpc")
            return answer(context, outcome)
        try:
            metadata = dict(context.invocation_metadata() or ())
            try:
                ingestor.authorize(metadata.get("authorization"))
            except Unauthorized as exc:
                outcome = ingestor.failure(exc, "grpc")
            else:
                outcome = ingestor.export(lambda: otlp.parse_protobuf(message), "grpc")
        finally:
            with self._lock:
                self._active -= 1
        return answer(context, outcome)


def create_grpc_server(
    ingestor: Ingestor, host: str, port: int, workers: int = 16
) -> tuple[grpc.Server, int, TraceService]:
    """A started-on-demand gRPC server; returns it with the port actually bound and its service."""
    limit = ingestor.settings.max_body_bytes
    service = TraceService(ingestor, workers)
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Export": grpc.unary_unary_rpc_method_handler(
                service.export,
                request_deserializer=None,  # raw bytes: the export call parses them
                response_serializer=ExportTraceServiceResponse.SerializeToString,
            )
        },
    )
    server = grpc.server(
        # Twice the export limit: calls over it get a thread to be told to retry, and calls
        # beyond that queue unread (a thread reads the message), so memory stays bounded.
        futures.ThreadPoolExecutor(max_workers=workers * 2, thread_name_prefix="ledgerline-grpc"),
        handlers=[handler],
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_concurrent_streams", 100),
            ("grpc.so_reuseport", 0),
        ],
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind gRPC on {host}:{port}")
    return server, bound, service
