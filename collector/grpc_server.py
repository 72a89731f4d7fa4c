"""OTLP/gRPC receiver: ``TraceService/Export`` on the same export call as HTTP.

:data:`CODES` maps each export outcome to a status. Retryable outcomes carry a
``google.rpc.RetryInfo``, as the OTLP specification asks (RESOURCE_EXHAUSTED is
retryable *only* with it; the Go exporter drops the data otherwise): in the status
details (``grpc-status-details-bin``, read by Go and Java) and as
``google.rpc.retryinfo-bin`` (read by the Python exporter).

The method receives the raw message bytes and parses them itself, so a malformed message
is one INVALID_ARGUMENT with one log line, not a gRPC-internal traceback. At most
``limit`` exports (``LEDGERLINE_MAX_CONCURRENT_GRPC``) run at once; more get
RESOURCE_EXHAUSTED with RetryInfo. A message takes shares of the byte budgets HTTP bodies
take (received, then being decoded) and is decoded on the ingestor's decode thread, so the
two transports together stay within one memory bound.

grpcio's synchronous server reads a request message on a worker thread, with no deadline
of its own: a client trickling its message would hold that thread for as long as it
likes. So Export is registered as stream-unary (the same bytes on the wire; unary clients
cannot tell), which lets it read the message itself, and a call whose message has not
arrived within ``body_timeout_s`` is cancelled by :class:`Deadlines`. The pool has
``4 × limit`` threads; calls beyond it queue unread until a thread is free. A slow gRPC
client therefore holds a thread for ``body_timeout_s`` at most, but ``4 × limit`` of them
at once still delay gRPC ingest (never HTTP's) for that long: the honest limit of a
thread-per-call server (docs/collector.md, "No client can stall the others").
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collector import otlp
from collector.errors import BodyTimeout, Busy, Unauthorized
from collector.ingest import Body, Ingestor
from collector.limits import Share
from collector.memory import DECODE_COST
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


class Deadlines:
    """One thread that runs callbacks at their deadlines unless disarmed first (no thread per call).

    A disarmed deadline drops its callback at once (and with it the call's context); only
    its (time, id) pair waits in the heap until it is due.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int]] = []
        self._armed: dict[int, Callable[[], None]] = {}
        self._seq = itertools.count()
        self._cond = threading.Condition()
        threading.Thread(target=self._run, name="ledgerline-grpc-deadlines", daemon=True).start()

    def arm(self, timeout_s: float, callback: Callable[[], None]) -> int:
        """Run ``callback`` in ``timeout_s`` unless :meth:`disarm` is called with the returned id."""
        seq = next(self._seq)
        with self._cond:
            self._armed[seq] = callback
            heapq.heappush(self._heap, (time.monotonic() + timeout_s, seq))
            if self._heap[0][1] == seq:  # the earliest now: the thread must wake sooner
                self._cond.notify()
        return seq

    def disarm(self, seq: int) -> None:
        """Forget a deadline (it may have fired already)."""
        with self._cond:
            self._armed.pop(seq, None)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._cond.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                _, seq = heapq.heappop(self._heap)
                callback = self._armed.pop(seq, None)
            if callback is None:
                continue
            try:
                callback()
            except Exception:  # a call that ended meanwhile: nothing to cancel
                log.debug("a gRPC deadline callback failed", exc_info=True)


class TraceService:
    """The OTLP trace service backed by an :class:`Ingestor`, with an in-progress limit."""

    def __init__(self, ingestor: Ingestor, limit: int, body_timeout_s: float) -> None:
        self._ingestor = ingestor
        self._limit = limit
        self._body_timeout_s = body_timeout_s
        self._deadlines = Deadlines()
        self._active = 0
        self._lock = threading.Lock()

    def _receive(self, messages: Iterator[bytes], context: grpc.ServicerContext) -> bytes | None:
        """The request message, or None when it did not arrive within the body deadline."""
        armed = self._deadlines.arm(self._body_timeout_s, context.cancel)
        try:
            return next(messages, None)
        except grpc.RpcError:  # cancelled: by the deadline, or the client gave up
            return None
        finally:
            self._deadlines.disarm(armed)

    @contextmanager
    def _shares(self, size: int) -> Iterator[None]:
        """The message's shares of the budgets HTTP uses too, held while it is decoded.

        The message is in memory already: it is charged to the receiving budget at once, or
        refused (Busy: RESOURCE_EXHAUSTED with RetryInfo) when that is full; its decoding
        waits for the decoding budget as HTTP bodies do, up to ``body_timeout_s``.
        """
        ingestor = self._ingestor
        received, memory = Share(ingestor.receiving), Share(ingestor.decoding)
        try:
            if not received.take_now(size):
                raise Busy("too many request bodies in flight, retry later")
            if not memory.grow_blocking(size * DECODE_COST[otlp.PROTOBUF], self._body_timeout_s):
                raise Busy("too many request bodies being decoded, retry later")
            yield
        finally:
            memory.release()
            received.release()

    def export(self, messages: Iterator[bytes], context: grpc.ServicerContext) -> ExportTraceServiceResponse:
        """Read the message (within the deadline), authenticate, run the export call, answer."""
        ingestor = self._ingestor
        message = self._receive(messages, context)
        if message is None:
            timeout = BodyTimeout(f"the request message did not arrive within {self._body_timeout_s:g} s")
            return answer(context, ingestor.failure(timeout, "grpc"))
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
                parse = Body(message, otlp.PROTOBUF)
                del message  # from here only the Body holds the bytes, until it is decoded
                outcome = ingestor.export(parse, "grpc", slot=self._shares(parse.size))
        finally:
            with self._lock:
                self._active -= 1
        return answer(context, outcome)


def create_grpc_server(ingestor: Ingestor, host: str, port: int) -> tuple[grpc.Server, int, TraceService]:
    """A started-on-demand gRPC server; returns it with the port actually bound and its service."""
    settings = ingestor.settings
    limit = settings.max_concurrent_grpc
    service = TraceService(ingestor, limit, settings.body_timeout_s)
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            # Stream-unary so the handler reads the message itself, under a deadline.
            "Export": grpc.stream_unary_rpc_method_handler(
                service.export,
                request_deserializer=None,  # raw bytes: the export call parses them
                response_serializer=ExportTraceServiceResponse.SerializeToString,
            )
        },
    )
    server = grpc.server(
        # Four times the export limit: a thread reads each message (under the body deadline)
        # and calls over the limit get one to be told to retry; calls beyond the pool queue
        # unread, so memory stays bounded.
        futures.ThreadPoolExecutor(max_workers=limit * 4, thread_name_prefix="ledgerline-grpc"),
        handlers=[handler],
        options=[
            ("grpc.max_receive_message_length", settings.max_body_bytes),
            ("grpc.max_concurrent_streams", 100),
            ("grpc.so_reuseport", 0),
            # Peers that vanished without a FIN are found by pings, and their calls cancelled.
            ("grpc.keepalive_time_ms", 60_000),
            ("grpc.keepalive_timeout_ms", 20_000),
            # Connections without a call for 5 minutes are closed (clients reconnect on demand).
            ("grpc.max_connection_idle_ms", 300_000),
        ],
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind gRPC on {host}:{port}")
    return server, bound, service
