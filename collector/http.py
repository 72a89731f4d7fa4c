"""OTLP/HTTP receiver: ``POST /v1/traces`` plus health, readiness and metrics.

Status codes follow the OTLP/HTTP specification (:data:`STATUS` maps each export
outcome): 200 (with ``partial_success`` when some spans were invalid), 400 for a
malformed body, 401 without a valid token, 408 when the body is too slow, 413 for an
oversized body, 415 for an unknown content type, 429 when the write queue is full and
503 when too many exports are in progress or the store is unavailable; every 429 and
503 carries ``Retry-After``. Error bodies are ``google.rpc.Status`` in the request's
encoding.

Only exports go through the limits; ``/healthz``, ``/readyz`` and ``/metrics`` never wait
for them.
"""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request, Response
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from starlette.requests import ClientDisconnect

from collector import otlp
from collector.errors import Busy, UnsupportedMediaType
from collector.ingest import Ingestor
from collector.limits import ByteBudget, read_body
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
# Bodies above this are decoded off the event loop so one big JSON body stalls no one.
_INLINE_DECODE_BYTES = 1 << 20
# Estimated peak memory of decoding, per byte of (decompressed) body: json.loads builds
# Python objects many times the text's size; protobuf parses into a compact arena.
_DECODE_COST = {otlp.JSON: 12, otlp.PROTOBUF: 4}


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


def _decoded_size(body: bytes, encoding: str | None, limit: int) -> int:
    """How large the body will be once decompressed (estimated; the limit still applies)."""
    encoding = (encoding or "").strip().lower()
    if encoding == "gzip" and len(body) >= 18:
        # ISIZE, the last member's length mod 2**32: a hint only, never trusted beyond limit.
        return min(limit, max(len(body), int.from_bytes(body[-4:], "little")))
    if encoding == "deflate":
        return min(limit, len(body) * 8)
    return len(body)


def create_collector_app(ingestor: Ingestor, store: Store) -> FastAPI:
    """The OTLP/HTTP application around an :class:`Ingestor`."""
    app = FastAPI(title="ledgerline collector", docs_url=None, redoc_url=None, openapi_url=None)
    settings = ingestor.settings
    # Bodies are received within a byte budget (the rest wait with their bytes in the
    # socket) and decoded within another, taken only once the body is complete, so memory
    # stays bounded and slow senders hold no decoding share.
    receiving = ByteBudget(settings.max_receiving_bytes)
    decoding = ByteBudget(settings.max_decoding_bytes)
    in_progress = 0

    async def export(request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        media = otlp.media_type(content_type)
        encoding = request.headers.get("content-encoding")
        held = 0
        try:
            try:
                if media is None:
                    raise UnsupportedMediaType(
                        f"unsupported Content-Type {content_type!r}; use {otlp.PROTOBUF} or {otlp.JSON}"
                    )
                if in_progress > settings.max_concurrent_requests:
                    raise Busy(f"{settings.max_concurrent_requests} export requests in progress, retry later")
                ingestor.authorize(request.headers.get("authorization"))
                body, held = await read_body(request, settings.max_body_bytes, receiving, settings.body_timeout_s)
            except HANDLED as exc:
                return respond(ingestor.failure(exc, "http"), media or otlp.PROTOBUF)

            def parse() -> ExportTraceServiceRequest:
                raw = otlp.decompress(body, encoding, settings.max_body_bytes)
                return otlp.decode(raw, media)

            size = _decoded_size(body, encoding, settings.max_body_bytes)
            outcome = await ingestor.export_async(
                parse,
                "http",
                slot=decoding.hold(size * _DECODE_COST[media]),
                offload=size > _INLINE_DECODE_BYTES,
            )
            return respond(outcome, media)
        finally:
            receiving.release(held)

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
    def readyz() -> Response:
        """Readiness: the store answers a query."""
        if store.ping():
            return Response(json.dumps({"status": "ready"}), media_type=otlp.JSON)
        return Response(json.dumps({"status": "store unavailable"}), status_code=503, media_type=otlp.JSON)

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus text exposition."""
        return Response(ingestor.metrics.render(), media_type="text/plain; version=0.0.4")

    return app
