"""Emission: the planned hops as real spans, one TracerProvider per system, OTLP export.

Each system (support, middleware, billing, erp) has its own resource, so ``service.name``
differs, and its own BatchSpanProcessor and OTLP exporter. Hops pass W3C headers to
each other through :mod:`ledgerline.instrument`, exactly as separate services would.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, MutableMapping, Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Link, SpanKind

from ledgerline.instrument import (
    DeadLetter,
    HopError,
    Retry,
    extract_headers,
    extract_message,
    hop,
    link_from_message,
)
from ledgerline.simulator.causes import Planter
from ledgerline.simulator.config import SimConfig
from ledgerline.simulator.model import SERVICE_VERSIONS, BatchJournal, PlannedHop, Transaction

SYSTEMS: tuple[str, ...] = ("support", "middleware", "billing", "erp", "crm")
_KINDS = {
    "support": SpanKind.SERVER,
    "middleware": SpanKind.SERVER,
    "billing": SpanKind.CONSUMER,
    "erp": SpanKind.CONSUMER,
    "crm": SpanKind.SERVER,
}
_RAISE: dict[str, type[HopError]] = {"retry": Retry, "dead_letter": DeadLetter, "failed": HopError}

ExporterFactory = Callable[[SimConfig, str], SpanExporter]


class SeededIdGenerator(IdGenerator):
    """Trace and span IDs from a seeded generator, re-keyed per transaction.

    Keying on the transaction (not on emission order) makes its IDs depend only on the
    seed and its sequence number. Thread-safe; the providers of all systems share one.
    """

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def rekey(self, key: str) -> None:
        """Continue from a sequence determined by ``(seed, key)``."""
        with self._lock:
            self._rng = random.Random(f"{self._seed}:ids:{key}")

    def _bits(self, n: int) -> int:
        with self._lock:
            while not (value := self._rng.getrandbits(n)):
                pass
            return value

    def generate_span_id(self) -> int:
        return self._bits(64)

    def generate_trace_id(self) -> int:
        return self._bits(128)

    def is_trace_id_random(self) -> bool:
        return True


class CountingExporter(SpanExporter):
    """Wraps an exporter and counts the spans it delivered and the spans it dropped."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.sent = 0
        self.failed = 0
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self.inner.export(spans)
        except Exception:  # an exporter bug must not kill the processor's worker
            result = SpanExportResult.FAILURE
        with self._lock:
            if result is SpanExportResult.SUCCESS:
                self.sent += len(spans)
            else:
                self.failed += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


def otlp_exporter(config: SimConfig, system: str) -> SpanExporter:
    """The real OTLP exporter for ``config.protocol``, with the bearer token if any."""
    token = config.bearer
    if config.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        metadata = {"authorization": f"Bearer {token}"} if token else None
        return GrpcExporter(
            endpoint=config.target,
            insecure=not config.target.startswith("https://"),
            headers=metadata,
            timeout=10,
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    headers = {"Authorization": f"Bearer {token}"} if token else None
    return HttpExporter(endpoint=config.target, headers=headers, timeout=10)


class Estate:
    """The simulated integration estate: one provider per system, emitting planned hops."""

    def __init__(self, config: SimConfig, exporter_factory: ExporterFactory = otlp_exporter) -> None:
        self.config = config
        self.ids = SeededIdGenerator(config.seed)
        self.exporters: dict[str, CountingExporter] = {}
        self.providers: dict[str, TracerProvider] = {}
        self.spans_emitted = 0
        self._since_flush = 0
        self.planter = Planter(config.causes, config.seed, config.now_ns or time.time_ns())
        # Headers each batch-bound invoice published, for the journal's span links.
        self.batch_messages: dict[str, MutableMapping[str, str]] = {}
        self._factory = exporter_factory
        for system in SYSTEMS:
            self._add(system, system, SERVICE_VERSIONS.get(system, ""))

    def _add(self, name: str, system: str, version: str) -> TracerProvider:
        """A provider (and its exporter) for ``system`` running ``version``: its own resource."""
        resource = Resource.create(
            {
                "service.name": system,
                "service.namespace": "ledgerline-sim",
                "service.version": version,
                "deployment.environment.name": "simulation",
            }
        )
        provider = TracerProvider(resource=resource, id_generator=self.ids)
        exporter = CountingExporter(self._factory(self.config, system))
        provider.add_span_processor(
            BatchSpanProcessor(
                exporter,
                max_queue_size=4 * self.config.flush_every_spans + 2048,
                max_export_batch_size=1024,
                schedule_delay_millis=500,
            )
        )
        self.exporters[name], self.providers[name] = exporter, provider
        return provider

    def _provider(self, planned: PlannedHop) -> TracerProvider:
        """The provider of the hop's system running the hop's service.version (a deployed version:
        one more provider, named ``system@version``, made when first needed)."""
        version = planned.service_version
        if version == SERVICE_VERSIONS.get(planned.system, ""):
            return self.providers[planned.system]
        name = f"{planned.system}@{version}"
        return self.providers.get(name) or self._add(name, planned.system, version)

    @property
    def sent(self) -> int:
        """Spans the collector accepted."""
        return sum(e.sent for e in self.exporters.values())

    @property
    def failed(self) -> int:
        """Spans the exporters gave up on."""
        return sum(e.failed for e in self.exporters.values())

    def emit_transaction(self, tx: Transaction) -> None:
        """Emit a transaction's hops (with the planted causes' effects), each receiving its upstream's headers."""
        tx = self.planter.apply(tx)
        self.ids.rekey(f"tx:{tx.seq}")
        carriers: list[MutableMapping[str, str]] = []
        for planned in tx.hops:
            ctx = Context()
            if planned.upstream is not None:
                carrier = carriers[planned.upstream]
                ctx = extract_headers(carrier) if planned.via == "http" else extract_message(carrier)
            root = planned.upstream is None
            # Only the first hop names the transaction; the others read it from the baggage.
            cid, flow = (tx.correlation_id, tx.flow or self.config.flow) if root else (None, None)
            carriers.append(self._emit(planned, ctx, cid, flow, tx.region, tx.legal_entity))
            if planned.step == "invoice.issued" and tx.fault == "batch_journal":
                self.batch_messages[planned.entity_id] = carriers[-1]
        self._count(len(tx.hops))

    def emit_batch(self, journal: BatchJournal) -> None:
        """Emit a nightly journal: parents are its invoices, links point at their spans."""
        self.ids.rekey(f"batch:{journal.correlation_id}")
        messages = [self.batch_messages.pop(i, {}) for i in journal.hop.parent_ids]
        links = [link_from_message(m) for m in messages]
        self._emit(
            self.planter.deployed(journal.hop),
            Context(),
            journal.correlation_id,
            self.config.batch_flow,
            journal.region,
            journal.legal_entity,
            links=[link for link in links if link is not None],
            kind=SpanKind.INTERNAL,
        )
        self._count(1)

    def _emit(
        self,
        planned: PlannedHop,
        ctx: Context,
        correlation_id: str | None,
        flow: str | None,
        region: str,
        legal_entity: str,
        links: Sequence[Link] = (),
        kind: SpanKind | None = None,
    ) -> MutableMapping[str, str]:
        kind = _KINDS[planned.system] if kind is None else kind
        parent: tuple[str, str | list[str]] | None = None
        if planned.parent_type:
            ids = planned.parent_ids
            parent = (planned.parent_type, ids[0] if len(ids) == 1 and not links else list(ids))
        headers: MutableMapping[str, str] = {}
        try:
            with hop(
                planned.entity_type,
                planned.entity_id,
                planned.step,
                parent=parent,
                amount=planned.amount,
                currency=planned.currency,
                correlation_id=correlation_id,
                flow=flow,
                region=region,
                legal_entity=legal_entity,
                idempotency_key=planned.idempotency_key,
                links=links,
                context=ctx,
                tracer=self._provider(planned).get_tracer(__name__),
                kind=kind,
                start_time=planned.start_ns,
                end_time=planned.end_ns,
                attributes={"biz.compensates": planned.compensates} if planned.compensates else None,
            ) as h:
                h.inject_message(headers)
                if planned.outcome != "ok":  # the adapter raises; the helper records the outcome
                    raise _RAISE[planned.outcome](category=planned.category)
        except HopError:
            pass
        return headers

    def _count(self, spans: int) -> None:
        self.spans_emitted += spans
        self._since_flush += spans
        if self._since_flush >= self.config.flush_every_spans:
            self.flush()  # backpressure: never let a processor queue overflow and drop spans

    def flush(self) -> None:
        """Export everything queued so far (blocks)."""
        self._since_flush = 0
        for provider in self.providers.values():
            provider.force_flush()

    def shutdown(self) -> None:
        """Flush and close every provider."""
        for provider in self.providers.values():
            provider.shutdown()
