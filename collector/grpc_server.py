"""OTLP/gRPC receiver: ``TraceService/Export`` on the same ingest path as HTTP.

Retryable failures carry a ``google.rpc.RetryInfo`` in the status details, as the OTLP
specification asks: RESOURCE_EXHAUSTED when the queue is full, UNAVAILABLE when the
store is down. The handler waits for the commit before it answers.
"""

from __future__ import annotations

from concurrent import futures

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from collector.errors import IngestError, Overloaded, StoreError, StoreUnavailable
from collector.ingest import Ingestor

_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    413: grpc.StatusCode.INVALID_ARGUMENT,
}


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str, retry_s: int | None) -> None:
    if retry_s is not None:
        info = any_pb2.Any()
        info.Pack(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=retry_s)))
        status = status_pb2.Status(code=code.value[0], message=message, details=[info])
        context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),))
    context.abort(code, message)


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    """The OTLP trace service backed by an :class:`Ingestor`."""

    def __init__(self, ingestor: Ingestor) -> None:
        self._ingestor = ingestor

    def Export(  # noqa: N802 - the name is the protocol's
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        """Validate, queue, wait for the commit, answer (with partial success)."""
        ingestor = self._ingestor
        retry = ingestor.settings.retry_after_s
        metadata = dict(context.invocation_metadata() or ())
        try:
            ingestor.authorize(metadata.get("authorization"))
            body, verdict = ingestor.prepare_message(request)
            future = ingestor.submit(body, verdict, "grpc")
            if future is not None:
                future.result(timeout=ingestor.settings.shutdown_timeout_s)
        except Overloaded as exc:
            ingestor.metrics.requests.labels("grpc", "overloaded").inc()
            _abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc), retry)
        except IngestError as exc:
            ingestor.metrics.requests.labels("grpc", type(exc).__name__.lower()).inc()
            _abort(context, _CODES.get(exc.status, grpc.StatusCode.INVALID_ARGUMENT), str(exc), None)
        except (StoreUnavailable, futures.TimeoutError) as exc:
            ingestor.metrics.requests.labels("grpc", "unavailable").inc()
            _abort(context, grpc.StatusCode.UNAVAILABLE, f"store unavailable, retry later: {exc}", retry)
        except StoreError as exc:
            ingestor.metrics.requests.labels("grpc", "store_rejected").inc()
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"the store refused the data: {exc}", None)
        ingestor.metrics.requests.labels("grpc", "ok").inc()
        return ingestor.accepted(verdict, "grpc")


def create_grpc_server(ingestor: Ingestor, host: str, port: int, workers: int = 16) -> tuple[grpc.Server, int]:
    """A started-on-demand gRPC server; returns it with the port actually bound."""
    limit = ingestor.settings.max_body_bytes
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ledgerline-grpc"),
        # gRPC holds each received message in memory: cap calls like HTTP caps bodies.
        maximum_concurrent_rpcs=workers * 2,
        options=[("grpc.max_receive_message_length", limit), ("grpc.so_reuseport", 0)],
    )
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(ingestor), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind gRPC on {host}:{port}")
    return server, bound
