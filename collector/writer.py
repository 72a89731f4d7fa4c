"""Group commit: handlers enqueue payloads, one thread stores them in batches.

The shape follows the OpenTelemetry SDK's BatchSpanProcessor: a bounded queue that never
blocks the caller (a full queue raises :class:`Overloaded`, which handlers turn into 429
with Retry-After) and a worker that drains it. Unlike a span processor, each submit
returns a future that completes only once its data is committed, so a handler never
acknowledges what is not stored.

While one commit runs, new requests gather in the queue; the next commit takes them all
(up to ``max_batch_spans`` and ``max_batch_bytes``, which bound ClickHouse's memory for the
insert). That is what keeps throughput high with every request waiting for its own commit.
The queue limits count the batch being committed too, so what is held waiting for a commit
never passes them (but for one request when nothing else is pending).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from collector.errors import Overloaded
from collector.store.errors import StoreError, StoreUnavailable

log = logging.getLogger(__name__)


@dataclass
class Payload:
    """One request's worth of data: serialized OTLP bytes and its valid span count."""

    body: bytes
    spans: int
    future: Future[None] = field(default_factory=Future)


Sink = Callable[[Sequence[Payload]], None]
"""Stores a batch of payloads in one commit; raises StoreError on failure."""


class BatchWriter:
    """A bounded queue of payloads in front of a sink, committed in groups."""

    def __init__(
        self,
        sink: Sink,
        *,
        max_queue_spans: int,
        max_queue_bytes: int,
        max_batch_spans: int,
        max_batch_bytes: int = 1 << 62,
        linger_s: float = 0.0,
        on_commit: Callable[[int, float, bool], None] | None = None,
    ) -> None:
        self._sink = sink
        self._max_queue_spans = max_queue_spans
        self._max_queue_bytes = max_queue_bytes
        self._max_batch_spans = max_batch_spans
        self._max_batch_bytes = max_batch_bytes
        self._linger_s = linger_s
        self._on_commit = on_commit or (lambda spans, seconds, ok: None)
        self._queue: deque[Payload] = deque()
        self._queued_spans = 0  # queued or being committed: what the limits count
        self._queued_bytes = 0
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="ledgerline-writer", daemon=True)
        self._thread.start()

    @property
    def queued_spans(self) -> int:
        """Spans accepted into the queue and not yet committed."""
        return self._queued_spans

    def submit(self, body: bytes, spans: int) -> Future[None]:
        """Queue a payload; the future completes when it is committed or fails."""
        return self.submit_all([(body, spans)])[0]

    def submit_all(self, parts: Sequence[tuple[bytes, int]]) -> list[Future[None]]:
        """Queue the payloads of one request, all or none (one request is acknowledged or refused whole)."""
        payloads = [Payload(body, spans) for body, spans in parts]
        spans = sum(p.spans for p in payloads)
        size = sum(len(p.body) for p in payloads)
        with self._cond:
            if self._closing:
                raise StoreUnavailable("the collector is shutting down")
            # With nothing queued or being committed, one request always gets in, so a large
            # valid request can't starve; otherwise the batch in commit counts too.
            if self._queued_spans and (
                self._queued_spans + spans > self._max_queue_spans or self._queued_bytes + size > self._max_queue_bytes
            ):
                raise Overloaded(f"write queue is full ({self._queued_spans} spans waiting)")
            self._queue.extend(payloads)
            self._queued_spans += spans
            self._queued_bytes += size
            self._cond.notify()
        return [p.future for p in payloads]

    def close(self, timeout: float = 30.0) -> None:
        """Commit everything queued, then stop the worker."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)

    # -- worker ------------------------------------------------------------------------
    def _take(self) -> list[Payload]:
        with self._cond:
            while not self._queue and not self._closing:
                self._cond.wait()
            if (
                self._linger_s
                and not self._closing
                and self._queued_spans < self._max_batch_spans
                and self._queued_bytes < self._max_batch_bytes
            ):
                # Wait a moment for company: fewer, larger parts are cheaper for ClickHouse.
                self._cond.wait(self._linger_s)
            batch: list[Payload] = []
            spans = size = 0
            while self._queue and (not batch or self._fits(spans, size, self._queue[0])):
                payload = self._queue.popleft()
                batch.append(payload)
                spans += payload.spans
                size += len(payload.body)
            return batch

    def _fits(self, spans: int, size: int, payload: Payload) -> bool:
        """True when ``payload`` joins a batch of ``spans`` and ``size`` within the batch limits."""
        return spans + payload.spans <= self._max_batch_spans and size + len(payload.body) <= self._max_batch_bytes

    def _release(self, batch: Sequence[Payload]) -> None:
        with self._cond:
            self._queued_spans -= sum(p.spans for p in batch)
            self._queued_bytes -= sum(len(p.body) for p in batch)

    def _run(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                return  # closing and drained
            self._commit(batch)
            self._release(batch)

    def _commit(self, batch: Sequence[Payload]) -> None:
        started = time.perf_counter()
        spans = sum(p.spans for p in batch)
        try:
            self._sink(batch)
        except StoreUnavailable as exc:
            self._on_commit(spans, time.perf_counter() - started, False)
            for payload in batch:
                payload.future.set_exception(exc)
            return
        except StoreError as exc:
            self._on_commit(spans, time.perf_counter() - started, False)
            self._isolate(batch, exc)
            return
        except Exception as exc:  # a bug must fail the requests, never kill the worker
            log.exception("writer sink failed")
            for payload in batch:
                payload.future.set_exception(StoreUnavailable(f"internal error: {exc}"))
            return
        self._on_commit(spans, time.perf_counter() - started, True)
        for payload in batch:
            payload.future.set_result(None)

    def _isolate(self, batch: Sequence[Payload], exc: StoreError) -> None:
        """A batch the store refused: commit payloads one by one so one bad request fails alone."""
        if len(batch) == 1:
            batch[0].future.set_exception(exc)
            return
        for payload in batch:
            try:
                self._sink([payload])
            except Exception as single:
                payload.future.set_exception(single)
            else:
                payload.future.set_result(None)
