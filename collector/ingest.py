"""What every transport shares: credentials, decoding, validation and submission.

Handlers decode; the batch writer stores. A handler calls :meth:`Ingestor.prepare` (or
:meth:`Ingestor.prepare_message` when the transport already parsed the message), then
:meth:`Ingestor.submit`, then waits for the future before it acknowledges anything.
"""

from __future__ import annotations

import hmac
from concurrent.futures import Future

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from collector import otlp
from collector.errors import Unauthorized
from collector.metrics import CollectorMetrics
from collector.redact import load_redactor
from collector.settings import CollectorSettings
from collector.writer import BatchWriter


class Ingestor:
    """Turns export requests into queued payloads, transport-neutral."""

    def __init__(self, settings: CollectorSettings, writer: BatchWriter, metrics: CollectorMetrics) -> None:
        self.settings = settings
        self.writer = writer
        self.metrics = metrics
        self._tokens = [t.get_secret_value().encode() for t in settings.ingest_tokens]
        key = settings.redact_key.get_secret_value() if settings.redact_key else None
        self.redactor = load_redactor(settings.redact, key)  # validated before anything listens

    def authorize(self, authorization: str | None) -> None:
        """Check ``Authorization: Bearer <token>`` when tokens are configured."""
        if not self._tokens:
            return
        scheme, _, token = (authorization or "").partition(" ")
        presented = token.strip().encode()
        # Compare against every token in constant time, so timing reveals nothing.
        matched = False
        for expected in self._tokens:
            matched |= hmac.compare_digest(presented, expected)
        if scheme.lower() != "bearer" or not matched:
            raise Unauthorized("missing or invalid bearer token")

    def prepare(self, body: bytes, content_type: str, content_encoding: str | None) -> tuple[bytes, otlp.Verdict]:
        """Decompress, parse and validate an HTTP body; return protobuf bytes to store."""
        raw = otlp.decompress(body, content_encoding, self.settings.max_body_bytes)
        request = otlp.decode(raw, content_type)
        redacted = self.redact(request)
        verdict = otlp.validate(request)
        is_protobuf = content_type.split(";", 1)[0].strip().lower() == "application/x-protobuf"
        return (raw if is_protobuf and not redacted else request.SerializeToString()), verdict

    def prepare_message(self, request: ExportTraceServiceRequest) -> tuple[bytes, otlp.Verdict]:
        """Validate an already parsed request (gRPC) and serialize it for the store."""
        self.redact(request)
        return request.SerializeToString(), otlp.validate(request)

    def redact(self, request: ExportTraceServiceRequest) -> bool:
        """Apply the redaction rules to a parsed request, before anything stores it; True if changed."""
        return self.redactor is not None and self.redactor.apply(request) > 0

    def submit(self, body: bytes, verdict: otlp.Verdict, transport: str) -> Future[None] | None:
        """Queue the valid spans; None when there is nothing to store."""
        self.metrics.spans_received.labels(transport).inc(verdict.accepted + verdict.rejected)
        if verdict.rejected:
            self.metrics.spans_rejected.labels(transport).inc(verdict.rejected)
        if not verdict.accepted:
            return None
        return self.writer.submit(body, verdict.accepted)

    def accepted(self, verdict: otlp.Verdict, transport: str) -> ExportTraceServiceResponse:
        """Record the commit and build the (partial success) response."""
        self.metrics.spans_accepted.labels(transport).inc(verdict.accepted)
        response = ExportTraceServiceResponse()
        if verdict.rejected:
            response.partial_success.rejected_spans = verdict.rejected
            response.partial_success.error_message = verdict.error_message
        return response
