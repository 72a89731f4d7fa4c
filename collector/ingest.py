"""What every transport shares: credentials, the export call and its outcome.

A transport authenticates (:meth:`Ingestor.authorize`), then makes one export call,
:meth:`Ingestor.export_async` (on the HTTP or the gRPC server's event loop), with a function
that parses the request (a :class:`Body`). The call runs::

    parse -> received (the one place that sees the parsed ExportTraceServiceRequest)
          -> normalise -> serialize (split past the batch limits) -> queue -> wait for the commit(s)

and returns an :class:`~collector.outcome.Outcome`; nothing is acknowledged before its
commit. Each transport maps the outcome through its own table.

Decoding (parse to queue) is CPU work that holds the GIL. It runs on the ingestor's own
decode thread (:data:`DECODE_THREADS`), at a lower OS priority, for both transports and never
on the event loop: under a burst of large requests the loop (and ``/healthz``) competes for
the GIL and the CPU with one thread it outranks, not with one thread per request. The byte
budgets both transports share bound what waits to be decoded (collector/limits.py; the
memory model is collector/memory.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import TypeVar

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from collector import otlp
from collector.errors import Unauthorized
from collector.limits import ByteBudget
from collector.metrics import CollectorMetrics
from collector.normalize import normalise, split
from collector.outcome import HANDLED, Outcome, accepted, failed
from collector.redact import load_redactor
from collector.settings import CollectorSettings
from collector.store.errors import StoreUnavailable
from collector.writer import BatchWriter

T = TypeVar("T")

Parse = Callable[[], ExportTraceServiceRequest]
"""Decodes one request (raises MalformedPayload or PayloadTooLarge)."""

DECODE_THREADS = 1
"""Decodes at once: decoding holds the GIL, so more threads add no speed, only contention."""
DECODE_NICE = 10
"""How much lower the decode threads' OS priority is: the event loop wins the CPU from them."""


def _lower_priority() -> None:
    """Lower this thread's OS priority (Linux: a nice value per thread; elsewhere a no-op)."""
    with contextlib.suppress(AttributeError, OSError):  # none here: decode at the loop's priority
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + DECODE_NICE))


async def settled(future: Future[T], timeout_s: float | None = None) -> T:
    """The result of a thread's future, awaited without ever cancelling it.

    ``asyncio.wrap_future`` cancels the thread's future when the awaiting task is cancelled
    (a gRPC caller gave up): the writer would then fail setting its result. Raises
    TimeoutError when it is not done within ``timeout_s``.
    """
    waited = asyncio.wrap_future(future)
    done, _ = await asyncio.wait((waited,), timeout=timeout_s)
    if not done:
        raise TimeoutError(f"not done within {timeout_s:g} s")
    return waited.result()


class Body:
    """A request body (decompressed) to decode once: a :data:`Parse` that drops its bytes as it
    decodes, so an export waiting for its commit keeps none of them alive."""

    def __init__(self, data: bytes, media: str) -> None:
        self._data = data
        self.media = media
        self.size = len(data)

    def __call__(self) -> ExportTraceServiceRequest:
        data, self._data = self._data, b""
        return otlp.decode(data, self.media)


class Ingestor:
    """Turns export requests into stored spans and outcomes, transport-neutral."""

    def __init__(self, settings: CollectorSettings, writer: BatchWriter, metrics: CollectorMetrics) -> None:
        self.settings = settings
        self.writer = writer
        self.metrics = metrics
        self._tokens = [t.get_secret_value().encode() for t in settings.ingest_tokens]
        key = settings.redact_key.get_secret_value() if settings.redact_key else None
        self.redactor = load_redactor(settings.redact, key)  # validated before anything listens
        # Both transports' bodies: received and not yet decoded, and (estimated) being decoded.
        self.receiving = ByteBudget(settings.max_receiving_bytes)
        self.decoding = ByteBudget(settings.max_decoding_bytes)
        self._decoders = ThreadPoolExecutor(
            DECODE_THREADS, thread_name_prefix="ledgerline-decode", initializer=_lower_priority
        )

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

    def _admit(self, parse: Parse, transport: str) -> tuple[list[Future[None]], otlp.Verdict]:
        """Parse, normalise, serialize and queue; the commits to wait for (none when nothing is stored)."""
        request = self.received(parse())
        verdict = normalise(request, self.window())
        self.metrics.spans_received.labels(transport).inc(verdict.accepted + verdict.rejected)
        if verdict.rejected:
            self.metrics.spans_rejected.labels(transport).inc(verdict.rejected)
        if not verdict.accepted:
            return [], verdict
        settings = self.settings
        parts = split(request, verdict.accepted, settings.max_batch_spans, settings.max_batch_bytes)
        del request
        return self.writer.submit_all(parts), verdict

    def _decode(self, parse: Parse, transport: str) -> Future[tuple[list[Future[None]], otlp.Verdict]]:
        """:meth:`_admit` on the decode thread."""
        try:
            return self._decoders.submit(self._admit, parse, transport)
        except RuntimeError:  # closed: a call the servers' grace period let through
            raise StoreUnavailable("the collector is shutting down") from None

    async def export_async(
        self,
        parse: Parse,
        transport: str,
        *,
        slot: AbstractAsyncContextManager[object] | None = None,
        commit_timeout_s: float | None = None,
    ) -> Outcome:
        """The export call for the event loop; decoding holds ``slot`` and runs on the decode thread.

        ``commit_timeout_s``: how long to wait for the commits (UNAVAILABLE after), else no limit.
        """
        try:
            async with slot or nullcontext():
                commits, verdict = await settled(self._decode(parse, transport))
            del parse
            deadline = None if commit_timeout_s is None else time.monotonic() + commit_timeout_s
            for commit in commits:
                await settled(commit, None if deadline is None else max(0.0, deadline - time.monotonic()))
        except HANDLED as exc:
            return self.failure(exc, transport)
        return self._committed(verdict, transport)

    def close(self) -> None:
        """Stop the decode threads (after the servers have drained)."""
        self._decoders.shutdown(wait=True)

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
