"""OTLP/HTTP receiver: ``POST /v1/traces`` plus health, readiness and metrics.

Status codes follow the OTLP/HTTP specification: 200 (with ``partial_success`` when some
spans were invalid), 400 for a malformed body, 401 without a valid token, 413 for an
oversized body, 415 for an unknown content type, 429 when the write queue is full and
503 when the store is unavailable, both with ``Retry-After`` so SDKs retry later. Error
bodies are ``google.rpc.Status`` in the request's encoding.
"""

from __future__ import annotations

import asyncio
import json

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collector.errors import IngestError, Overloaded, PayloadTooLarge, StoreError, StoreUnavailable
from collector.ingest import Ingestor
from collector.store import Store

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# Bodies above this are decoded off the event loop so one big JSON body stalls no one.
_INLINE_DECODE_BYTES = 1 << 20
_GRPC_CODES = {
    400: code_pb2.INVALID_ARGUMENT,
    401: code_pb2.UNAUTHENTICATED,
    413: code_pb2.INVALID_ARGUMENT,
    415: code_pb2.INVALID_ARGUMENT,
    429: code_pb2.RESOURCE_EXHAUSTED,
    503: code_pb2.UNAVAILABLE,
}


def _media(request: Request) -> str:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return JSON if media == JSON else PROTOBUF


def _error(status: int, message: str, media: str, retry_after: int | None = None) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    code = _GRPC_CODES.get(status, code_pb2.UNKNOWN)
    if media == JSON:
        body = json.dumps({"code": code, "message": message}).encode()
    else:
        body = status_pb2.Status(code=code, message=message).SerializeToString()
    return Response(body, status_code=status, media_type=media, headers=headers)


def _success(response: ExportTraceServiceResponse, media: str) -> Response:
    if media == JSON:
        document: dict[str, object] = {}
        if response.HasField("partial_success"):
            document["partialSuccess"] = {
                # OTLP/JSON writes int64 as a decimal string.
                "rejectedSpans": str(response.partial_success.rejected_spans),
                "errorMessage": response.partial_success.error_message,
            }
        return Response(json.dumps(document).encode(), media_type=JSON)
    return Response(response.SerializeToString(), media_type=PROTOBUF)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes is over the {limit}-byte limit")
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise PayloadTooLarge(f"body is over the {limit}-byte limit")
    return bytes(chunks)


def create_collector_app(ingestor: Ingestor, store: Store) -> FastAPI:
    """The OTLP/HTTP application around an :class:`Ingestor`."""
    app = FastAPI(title="ledgerline collector", docs_url=None, redoc_url=None, openapi_url=None)
    settings = ingestor.settings
    retry_after = settings.retry_after_s
    # Bodies are read and decoded by a few requests at a time; the rest wait with their
    # bytes still in the socket (uvicorn pauses reading), so memory stays bounded at about
    # max_decoding_requests x max_body_bytes plus the write queue, whatever the load.
    decoding = asyncio.Semaphore(settings.max_decoding_requests)

    @app.post("/v1/traces")
    async def export_traces(request: Request) -> Response:
        media = _media(request)
        content_type = request.headers.get("content-type", "")
        if content_type.split(";", 1)[0].strip().lower() not in (PROTOBUF, JSON):
            ingestor.metrics.requests.labels("http", "unsupported").inc()
            return _error(415, f"unsupported Content-Type {content_type!r}; use {PROTOBUF} or {JSON}", media)
        try:
            ingestor.authorize(request.headers.get("authorization"))
            async with decoding:
                body = await _read_body(request, settings.max_body_bytes)
                encoding = request.headers.get("content-encoding")
                if len(body) > _INLINE_DECODE_BYTES:
                    payload, verdict = await run_in_threadpool(ingestor.prepare, body, content_type, encoding)
                else:
                    payload, verdict = ingestor.prepare(body, content_type, encoding)
                del body
                future = ingestor.submit(payload, verdict, "http")
            if future is not None:
                await asyncio.wrap_future(future)
        except Overloaded as exc:
            ingestor.metrics.requests.labels("http", "overloaded").inc()
            return _error(429, str(exc), media, retry_after)
        except IngestError as exc:
            ingestor.metrics.requests.labels("http", type(exc).__name__.lower()).inc()
            return _error(exc.status, str(exc), media)
        except StoreUnavailable as exc:
            ingestor.metrics.requests.labels("http", "unavailable").inc()
            return _error(503, f"store unavailable, retry later: {exc}", media, retry_after)
        except StoreError as exc:
            ingestor.metrics.requests.labels("http", "store_rejected").inc()
            return _error(400, f"the store refused the data: {exc}", media)
        ingestor.metrics.requests.labels("http", "ok").inc()
        return _success(ingestor.accepted(verdict, "http"), media)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> Response:
        """Readiness: the store answers a query."""
        if store.ping():
            return Response(json.dumps({"status": "ready"}), media_type=JSON)
        return Response(json.dumps({"status": "store unavailable"}), status_code=503, media_type=JSON)

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus text exposition."""
        return Response(ingestor.metrics.render(), media_type="text/plain; version=0.0.4")

    return app
