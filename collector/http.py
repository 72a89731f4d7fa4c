"""OTLP/HTTP receiver: ``POST /v1/traces`` plus health, readiness and metrics.

Status codes follow the OTLP/HTTP specification (:data:`STATUS` maps each export
outcome): 200 (with ``partial_success`` when some spans were invalid), 400 for a
malformed body, 401 without a valid token, 408 when the body is too slow, 413 for an
oversized body, 415 for an unknown content type, 429 when the write queue is full and
503 when too many exports are in progress or the store is unavailable; every 429 and
503 carries ``Retry-After``. Error bodies are ``google.rpc.Status`` in the request's
encoding.

Only exports go through the limits; ``/healthz``, ``/readyz`` and ``/metrics`` never wait
for them, nor for the store: readiness is the store's answer to a ping made every second
on a thread of its own (:class:`Readiness`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from google.rpc import code_pb2, status_pb2
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from collector import otlp
from collector.errors import Busy, UnsupportedMediaType
from collector.ingest import Body, Ingestor
from collector.limits import Share, read_body
from collector.memory import DECODE_COST
from collector.outcome import HANDLED, Kind, Outcome
from collector.store import Store

log = logging.getLogger(__name__)

# Outcome -> (HTTP status, google.rpc code for the error body).
STATUS: dict[Kind, tuple[int, int]] = {
    Kind.ACCEPTED: (200, code_pb2.OK),
    Kind.MALFORMED: (400, code_pb2.INVALID_ARGUMENT),
    Kind.REFUSED: (400, code_pb2.INVALID_ARGUMENT),
    Kind.UNAUTHORIZED: (401, code_pb2.UNAUTHENTICATED),
    Kind.BODY_TIMEOUT: (408, code_pb2.DEADLINE_EXCEEDED),
    Kind.TOO_LARGE: (413, code_pb2.INVALID_ARGUMENT),
    Kind.UNSUPPORTED: (415, code_pb2.INVALID_ARGUMENT),
    Kind.OVERLOADED: (429, code_pb2.RESOURCE_EXHAUSTED),
    Kind.BUSY: (503, code_pb2.UNAVAILABLE),
    Kind.UNAVAILABLE: (503, code_pb2.UNAVAILABLE),
}
# Bodies above this are decompressed off the event loop (decoding always is).
_INLINE_INFLATE_BYTES = 1 << 20
# Deflate (gzip's too) expands at most ~1032:1 (one 258-byte match per ~2 bits).
_MAX_INFLATE_RATIO = 1032


def respond(outcome: Outcome, media: str) -> Response:
    """The HTTP response of an export outcome, in the request's encoding."""
    status, code = STATUS[outcome.kind]
    if outcome.kind is Kind.ACCEPTED:
        assert outcome.response is not None
        if media == otlp.JSON:
            document: dict[str, object] = {}
            if outcome.response.HasField("partial_success"):
                document["partialSuccess"] = {
                    # OTLP/JSON writes int64 as a decimal string.
                    "rejectedSpans": str(outcome.response.partial_success.rejected_spans),
                    "errorMessage": outcome.response.partial_success.error_message,
                }
            return Response(json.dumps(document).encode(), media_type=otlp.JSON)
        return Response(outcome.response.SerializeToString(), media_type=otlp.PROTOBUF)
    headers = {"Retry-After": str(outcome.retry_after_s)} if outcome.retry_after_s else {}
    if outcome.kind is Kind.BODY_TIMEOUT:
        headers["Connection"] = "close"  # the rest of the body is not worth waiting for
    if media == otlp.JSON:
        body = json.dumps({"code": code, "message": outcome.message}).encode()
    else:
        body = status_pb2.Status(code=code, message=outcome.message).SerializeToString()
    return Response(body, status_code=status, media_type=media, headers=headers)


async def _inflate(body: bytes, encoding: str | None, limit: int, share: Share, per_byte: int) -> bytes:
    """The decompressed body, with ``per_byte`` times its real size held in ``share``.

    Compressed headers (gzip's ISIZE, a member count) say nothing trustworthy about the
    output, so decompression holds the most it can produce (deflate expands at most
    :data:`_MAX_INFLATE_RATIO` times, and never past ``limit``), then the share is set to the
    real size times ``per_byte``: the charge is never below what the body decodes to. That
    last step grows a share already held, so it may overdraw (ByteBudget.overdraw) rather
    than wait on others doing the same.
    """
    if (encoding or "").strip().lower() in ("", "identity"):
        await share.grow_to(len(body) * per_byte)
        return body
    bound = min(limit, len(body) * _MAX_INFLATE_RATIO)
    await share.grow_to(bound)  # the output, while inflating
    if bound > _INLINE_INFLATE_BYTES:
        raw = await run_in_threadpool(otlp.decompress, body, encoding, limit)
    else:
        raw = otlp.decompress(body, encoding, limit)
    share.shrink_to(len(raw))
    await share.grow_to(len(raw) * per_byte, may_overdraw=True)
    share.settle()
    return raw


class Readiness:
    """Whether the store answers, as of its last ping (every ``interval_s``, on a thread of its own).

    ``/readyz`` answers from it at once: under load a ping waits for the engine, and a probe
    must not. No answer for ``stale_s`` (a ping that hangs) counts as not ready.
    """

    def __init__(self, store: Store, interval_s: float = 1.0, stale_s: float = 5.0) -> None:
        self._store = store
        self._interval_s = interval_s
        self._stale_s = stale_s
        self._ok = False
        self._answered_at = float("-inf")  # monotonic time of the last ping that succeeded
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ledgerline-readiness", daemon=True)

    def start(self) -> None:
        """Ping once (so the first answer is true), then every ``interval_s``."""
        self._ping()
        self._thread.start()

    def stop(self) -> None:
        """Stop pinging."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(self._interval_s + 5)

    def ready(self) -> bool:
        """True when the last ping succeeded, within ``stale_s``."""
        return self._ok and time.monotonic() - self._answered_at <= self._stale_s

    def _ping(self) -> None:
        self._ok = self._store.ping()
        if self._ok:
            self._answered_at = time.monotonic()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._ping()


def create_collector_app(ingestor: Ingestor, store: Store) -> FastAPI:
    """The OTLP/HTTP application around an :class:`Ingestor`."""
    readiness = Readiness(store)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(readiness.start)
        try:
            yield
        finally:
            readiness.stop()

    app = FastAPI(title="ledgerline collector", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    settings = ingestor.settings
    # Bodies are received within a byte budget, taken as the bytes arrive, and decoded
    # within another, taken only once the body is complete, so memory stays bounded and
    # slow senders hold only what they sent. Both are given back once the request is
    # decoded and queued: waiting for the commit holds neither (nor the body's bytes).
    # gRPC takes its shares of the same two budgets.
    receiving, decoding = ingestor.receiving, ingestor.decoding
    app.state.budgets = {"receiving": receiving, "decoding": decoding}
    in_progress = 0

    async def export(request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        media = otlp.media_type(content_type)
        encoding = request.headers.get("content-encoding")
        received = Share(receiving)
        memory = Share(decoding)

        @asynccontextmanager
        async def decoded() -> AsyncIterator[None]:
            try:
                yield
            finally:  # parsed and queued (or refused): the commit wait holds no budget
                memory.release()
                received.release()

        try:
            try:
                if media is None:
                    raise UnsupportedMediaType(
                        f"unsupported Content-Type {content_type!r}; use {otlp.PROTOBUF} or {otlp.JSON}"
                    )
                if in_progress > settings.max_concurrent_requests:
                    raise Busy(f"{settings.max_concurrent_requests} export requests in progress, retry later")
                ingestor.authorize(request.headers.get("authorization"))
                body, received = await read_body(request, settings.max_body_bytes, receiving, settings.body_timeout_s)
                raw = await _inflate(body, encoding, settings.max_body_bytes, memory, DECODE_COST[media])
                if raw is not body:
                    received.release()  # the compressed bytes are done with
                del body
            except HANDLED as exc:
                return respond(ingestor.failure(exc, "http"), media or otlp.PROTOBUF)
            parse = Body(raw, media)
            del raw  # from here only the Body holds the bytes, until it is decoded
            outcome = await ingestor.export_async(parse, "http", slot=decoded())
            return respond(outcome, media)
        finally:
            memory.release()
            received.release()

    @app.post("/v1/traces")
    async def export_traces(request: Request) -> Response:
        nonlocal in_progress
        in_progress += 1
        try:
            return await export(request)
        except ClientDisconnect:
            log.info("client %s disconnected before its request body was complete", request.client)
            return Response(status_code=400)
        finally:
            in_progress -= 1

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers (on the event loop: no thread pool to wait for)."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Response:
        """Readiness: the store answered its last ping, within seconds (503 with Retry-After when not)."""
        if readiness.ready():
            return Response(json.dumps({"status": "ready"}), media_type=otlp.JSON)
        retry = {"Retry-After": str(settings.retry_after_s)}
        return Response(
            json.dumps({"status": "store unavailable"}), status_code=503, media_type=otlp.JSON, headers=retry
        )

    @app.get("/metrics")
    async def metrics() -> Response:
        """Prometheus text exposition (quick: rendered on the event loop, no thread pool to wait for)."""
        return Response(ingestor.metrics.render(), media_type="text/plain; version=0.0.4")

    return app
