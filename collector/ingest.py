"""What every transport shares: credentials, the export call and its outcome.

A transport authenticates (:meth:`Ingestor.authorize`), then makes one export call,
:meth:`Ingestor.export` (gRPC's worker threads) or :meth:`Ingestor.export_async` (HTTP's
event loop), with a function that parses the request. The call runs::

    parse -> received (the one place that sees the parsed ExportTraceServiceRequest)
          -> normalise -> serialize -> queue -> wait for the commit

and returns an :class:`~collector.outcome.Outcome`; nothing is acknowledged before its
commit. Each transport maps the outcome through its own table.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractAsyncContextManager, nullcontext

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.concurrency import run_in_threadpool

from collector import otlp
from collector.errors import Unauthorized
from collector.metrics import CollectorMetrics
from collector.normalize import normalise
from collector.outcome import HANDLED, Outcome, accepted, failed
from collector.redact import load_redactor
from collector.settings import CollectorSettings
from collector.writer import BatchWriter

Parse = Callable[[], ExportTraceServiceRequest]
"""Decodes one request (raises MalformedPayload or PayloadTooLarge)."""


class Ingestor:
    """Turns export requests into stored spans and outcomes, transport-neutral."""

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

    # -- the export call -------------------------------------------------------------------
    def received(self, request: ExportTraceServiceRequest) -> ExportTraceServiceRequest:
        """The parsed request, before anything is validated or stored.

        The single point every export passes with its ExportTraceServiceRequest in hand
        (both transports, both encodings): redaction applies here, so both decoders (and
        everything derived) only ever see redacted attributes. It returns the request to store.
        """
        if self.redactor is not None:
            self.redactor.apply(request)
        return request

    def window(self) -> otlp.TimeWindow:
        """The times a span received now may have: the raw retention back, ``max_future_s`` ahead."""
        settings = self.settings
        return otlp.accepted_window(time.time_ns(), settings.retention_raw_days, settings.max_future_s)

    def _admit(self, parse: Parse, transport: str) -> tuple[Future[None] | None, otlp.Verdict]:
        """Parse, normalise, serialize and queue; None for the future when nothing is stored."""
        request = self.received(parse())
        verdict = normalise(request, self.window())
        self.metrics.spans_received.labels(transport).inc(verdict.accepted + verdict.rejected)
        if verdict.rejected:
            self.metrics.spans_rejected.labels(transport).inc(verdict.rejected)
        if not verdict.accepted:
            return None, verdict
        return self.writer.submit(request.SerializeToString(), verdict.accepted), verdict

    def export(self, parse: Parse, transport: str) -> Outcome:
        """The export call for threads: returns once the spans are committed (or not)."""
        try:
            future, verdict = self._admit(parse, transport)
            if future is not None:
                future.result(timeout=self.settings.shutdown_timeout_s)
        except HANDLED as exc:
            return self.failure(exc, transport)
        return self._committed(verdict, transport)

    async def export_async(
        self,
        parse: Parse,
        transport: str,
        *,
        slot: AbstractAsyncContextManager[object] | None = None,
        offload: bool = False,
    ) -> Outcome:
        """The export call for the event loop; decoding holds ``slot`` and runs in a thread if ``offload``."""
        try:
            async with slot or nullcontext():
                if offload:
                    future, verdict = await run_in_threadpool(self._admit, parse, transport)
                else:
                    future, verdict = self._admit(parse, transport)
            if future is not None:
                await asyncio.wrap_future(future)
        except HANDLED as exc:
            return self.failure(exc, transport)
        return self._committed(verdict, transport)

    def failure(self, exc: BaseException, transport: str) -> Outcome:
        """Count a failed export and say what it means."""
        outcome = failed(exc, self.settings.retry_after_s)
        self.metrics.requests.labels(transport, outcome.kind.value).inc()
        return outcome

    def _committed(self, verdict: otlp.Verdict, transport: str) -> Outcome:
        self.metrics.requests.labels(transport, "ok").inc()
        self.metrics.spans_accepted.labels(transport).inc(verdict.accepted)
        response = ExportTraceServiceResponse()
        if verdict.rejected:
            response.partial_success.rejected_spans = verdict.rejected
            response.partial_success.error_message = verdict.error_message
        return accepted(response)
