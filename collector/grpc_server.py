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

The server is grpc.aio, on an event loop of its own in a thread :class:`GrpcServer` owns
(the collector starts and stops it). A call waiting for its message is a coroutine, not a
worker thread: any number of slow or stalled callers hold no thread and delay no one else.
Export is registered as stream-unary (the same bytes on the wire; unary clients cannot
tell), so it reads the message itself, and a call whose message has not arrived within
``body_timeout_s`` is answered DEADLINE_EXCEEDED. Once read, the export runs to its end
even if the caller gives up (as it did on a worker thread): its budget shares are held
until decoded, and its commit is never cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

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


async def answer(context: grpc.aio.ServicerContext, outcome: Outcome) -> ExportTraceServiceResponse:
    """The response of an export outcome (abort for anything but accepted)."""
    if outcome.kind is Kind.ACCEPTED:
        assert outcome.response is not None
        return outcome.response
    code = CODES[outcome.kind]
    if outcome.kind is Kind.MALFORMED:
        log.info("gRPC export refused: %s", outcome.message)
    await context.abort(code, outcome.message, trailers(code, outcome.message, outcome.retry_after_s))
    raise AssertionError("unreachable")  # abort raises


class TraceService:
    """The OTLP trace service backed by an :class:`Ingestor`, with an in-progress limit.

    Runs on one event loop: the counter needs no lock.
    """

    def __init__(self, ingestor: Ingestor, limit: int, body_timeout_s: float) -> None:
        self._ingestor = ingestor
        self._limit = limit
        self._body_timeout_s = body_timeout_s
        self._active = 0
        self.exports: set[asyncio.Task[Outcome]] = set()  # running, whether or not their caller waits

    async def _receive(self, messages: AsyncIterator[bytes]) -> bytes | None:
        """The request message, or None when it did not arrive within the body deadline."""
        try:
            async with asyncio.timeout(self._body_timeout_s):
                return await anext(messages, None)
        except TimeoutError:
            return None

    @contextlib.asynccontextmanager
    async def _shares(self, size: int) -> AsyncIterator[None]:
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
            try:
                async with asyncio.timeout(self._body_timeout_s):
                    await memory.grow_to(size * DECODE_COST[otlp.PROTOBUF])
            except TimeoutError:
                raise Busy("too many request bodies being decoded, retry later") from None
            yield
        finally:
            memory.release()
            received.release()

    async def export(
        self, messages: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> ExportTraceServiceResponse:
        """Read the message (within the deadline), authenticate, run the export call, answer."""
        ingestor = self._ingestor
        message = await self._receive(messages)
        if message is None:
            timeout = BodyTimeout(f"the request message did not arrive within {self._body_timeout_s:g} s")
            return await answer(context, ingestor.failure(timeout, "grpc"))
        if self._active >= self._limit:
            outcome = ingestor.failure(Busy(f"{self._limit} exports in progress, retry later"), "grpc")
            return await answer(context, outcome)
        metadata = dict(context.invocation_metadata() or ())
        try:
            ingestor.authorize(metadata.get("authorization"))
        except Unauthorized as exc:
            return await answer(context, ingestor.failure(exc, "grpc"))
        parse = Body(message, otlp.PROTOBUF)
        del message  # from here only the Body holds the bytes, until it is decoded
        # A task of its own, shielded: a caller giving up cancels only the wait for the answer.
        self._active += 1
        task = asyncio.create_task(self._export(parse))
        self.exports.add(task)
        task.add_done_callback(self._finished)
        return await answer(context, await asyncio.shield(task))

    async def _export(self, parse: Body) -> Outcome:
        ingestor = self._ingestor
        return await ingestor.export_async(
            parse, "grpc", slot=self._shares(parse.size), commit_timeout_s=ingestor.settings.shutdown_timeout_s
        )

    def _finished(self, task: asyncio.Task[Outcome]) -> None:
        self._active -= 1
        self.exports.discard(task)


def _options(max_message_bytes: int) -> list[tuple[str, Any]]:
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_concurrent_streams", 100),
        ("grpc.so_reuseport", 0),
        # Peers that vanished without a FIN are found by pings, and their calls cancelled.
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        # Connections without a call for 5 minutes are closed (clients reconnect on demand).
        ("grpc.max_connection_idle_ms", 300_000),
    ]


class GrpcServer:
    """The grpc.aio server on an event loop of its own, in a thread (started and stopped from others)."""

    def __init__(self, ingestor: Ingestor, host: str, port: int) -> None:
        settings = ingestor.settings
        self.service = TraceService(ingestor, settings.max_concurrent_grpc, settings.body_timeout_s)
        self._ingestor = ingestor
        self._address = f"{host}:{port}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ledgerline-grpc", daemon=True)
        self._server: Any = None
        self.port = 0

    def start(self, timeout: float = 15.0) -> None:
        """Bind and start serving (OSError when the address cannot be bound)."""
        self._thread.start()
        try:
            self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout)
        except BaseException:
            self._halt(timeout)
            raise

    async def _start(self) -> int:
        handler = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                # Stream-unary so the handler reads the message itself, under a deadline.
                "Export": grpc.stream_unary_rpc_method_handler(
                    self.service.export,
                    request_deserializer=None,  # raw bytes: the export call parses them
                    response_serializer=ExportTraceServiceResponse.SerializeToString,
                )
            },
        )
        server = grpc.aio.server(handlers=[handler], options=_options(self._ingestor.settings.max_body_bytes))
        try:
            bound = server.add_insecure_port(self._address)
        except RuntimeError:  # grpcio raises where it once returned 0
            bound = 0
        if bound == 0:
            raise OSError(f"cannot bind gRPC on {self._address}")
        await server.start()
        self._server = server
        return int(bound)

    def stop(self, grace: float) -> None:
        """Stop accepting, let calls in progress finish within ``grace`` s, then stop the loop."""
        if self._server is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._stop(grace), self._loop).result(2 * grace + 5)
            except Exception:
                log.warning("the gRPC server did not stop cleanly", exc_info=True)
        self._halt(grace)

    async def _stop(self, grace: float) -> None:
        await self._server.stop(grace)
        # Exports whose callers gave up still run: let them end (their commits need the
        # writer, which is still running), then drop whatever is left (nothing was acknowledged).
        if self.service.exports:
            await asyncio.wait(set(self.service.exports), timeout=grace)
        for task in list(self.service.exports):
            task.cancel()

    def _halt(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
        if not self._thread.is_alive():
            self._loop.close()
