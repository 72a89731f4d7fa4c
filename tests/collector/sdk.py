"""Real OpenTelemetry SDK clients for tests: a tracer provider exporting over OTLP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter


def http_exporter(endpoint: str, **kwargs: object) -> SpanExporter:
    """The SDK's OTLP/HTTP protobuf exporter."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint, **kwargs)  # type: ignore[arg-type]


def grpc_exporter(target: str, **kwargs: object) -> SpanExporter:
    """The SDK's OTLP/gRPC exporter (plaintext, for loopback)."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=target, insecure=True, **kwargs)  # type: ignore[arg-type]


@contextmanager
def provider(exporter: SpanExporter, service: str = "billing") -> Iterator[TracerProvider]:
    """A tracer provider that exports every span synchronously as it ends."""
    tp = TracerProvider(resource=Resource.create({"service.name": service}))
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield tp
    finally:
        tp.shutdown()


def hop_attributes(entity_type: str, entity_id: str, step: str, correlation_id: str, **extra: object) -> dict:
    """Business hop attributes as the conventions define them."""
    attrs: dict[str, object] = {
        "correlation.id": correlation_id,
        "biz.flow": "support_credit",
        "biz.entity.type": entity_type,
        "biz.entity.id": entity_id,
        "biz.step": step,
    }
    attrs.update({f"biz.{k}": v for k, v in extra.items()})
    return attrs
