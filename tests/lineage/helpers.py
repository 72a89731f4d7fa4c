"""Build business transactions with the real OpenTelemetry SDK, at chosen past times."""

from __future__ import annotations

import time
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, SpanContext, Status, StatusCode

from collector.store import Store

MIN = 60 * 1_000_000_000
HOUR = 60 * MIN


def now_ns() -> int:
    """Now, in epoch nanoseconds."""
    return time.time_ns()


class Emitter:
    """One tracer per service, each exporting synchronously to the collector."""

    def __init__(self, endpoint: str, store: Store) -> None:
        self.endpoint = endpoint
        self.store = store
        self.providers: dict[str, TracerProvider] = {}
        self.sent = 0

    def _tracer(self, service: str, version: str = "") -> Any:
        key = f"{service}@{version}" if version else service
        if key not in self.providers:
            attrs = {"service.name": service} | ({"service.version": version} if version else {})
            provider = TracerProvider(resource=Resource.create(attrs))
            # Batched export, flushed by wait(): one OTLP request per service and round.
            exporter = OTLPSpanExporter(endpoint=self.endpoint, timeout=10)
            provider.add_span_processor(
                BatchSpanProcessor(exporter, schedule_delay_millis=60_000, max_export_batch_size=512)
            )
            self.providers[key] = provider
        return self.providers[key].get_tracer("tests.lineage")

    def hop(
        self,
        cid: str,
        entity_type: str,
        entity_id: str,
        step: str,
        start_ns: int,
        *,
        dur_ns: int = MIN,
        system: str = "",
        outcome: str = "ok",
        category: str = "",
        parent: tuple[str, str | list[str]] | None = None,
        amount: float | None = None,
        currency: str = "",
        idem: str = "",
        region: str = "emea",
        legal_entity: str = "LE-1",
        flow: str = "support_credit",
        links: list[SpanContext] | None = None,
        version: str = "",
        attrs: dict[str, str] | None = None,
    ) -> SpanContext:
        """Emit one hop span (``attrs``: more attributes, e.g. ``biz.posting_date``); return its
        span context (to link to it)."""
        service = system or f"{entity_type}-svc"
        attributes: dict[str, Any] = {
            **(attrs or {}),
            "correlation.id": cid,
            "biz.flow": flow,
            "biz.entity.type": entity_type,
            "biz.entity.id": entity_id,
            "biz.step": step,
            "biz.system": service,
            "biz.outcome": outcome,
            "biz.region": region,
            "biz.legal_entity": legal_entity,
        }
        if category:
            attributes["biz.error.category"] = category
        if parent:
            attributes["biz.parent.type"], attributes["biz.parent.id"] = parent
        if amount is not None:
            attributes["biz.amount"] = amount
        if currency:
            attributes["biz.currency"] = currency
        if idem:
            attributes["biz.idempotency_key"] = idem
        span = self._tracer(service, version).start_span(
            step, start_time=start_ns, attributes=attributes, links=[Link(c) for c in links or []]
        )
        if outcome != "ok":
            span.set_status(Status(StatusCode.ERROR, f"{step} {outcome}: {category}"))
        ctx = span.get_span_context()
        span.end(end_time=start_ns + dur_ns)
        self.sent += 1
        return ctx

    def wait(self, timeout_s: float = 10.0) -> None:
        """Flush the SDK, then block until every emitted hop is queryable."""
        for provider in self.providers.values():
            assert provider.force_flush(int(timeout_s * 1000)), "the SDK could not flush"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            n = self.store.query("SELECT count() FROM (SELECT DISTINCT TraceId, SpanId FROM hops)")[0][0]
            if n >= self.sent:
                return
            time.sleep(0.05)
        raise AssertionError(f"only {n} of {self.sent} hops stored after {timeout_s}s")

    def close(self) -> None:
        """Shut every provider down."""
        for provider in self.providers.values():
            provider.shutdown()


def complete_txn(
    em: Emitter,
    cid: str,
    t0: int,
    *,
    n: str = "1",
    amount: float = 120.0,
    currency: str = "EUR",
    ledger_delay: int = 30 * MIN,
    ledger_amount: tuple[float, str] | None = None,
) -> SpanContext:
    """A complete, on-time support_credit transaction starting at t0; returns the posting span."""
    em.hop(cid, "case", f"CASE-{n}", "case.opened", t0, system="zendesk")
    em.hop(
        cid,
        "credit",
        f"CR-{n}",
        "credit.approved",
        t0 + 30 * MIN,
        system="billing",
        parent=("case", f"CASE-{n}"),
        amount=amount,
        currency=currency,
    )
    em.hop(
        cid,
        "invoice",
        f"INV-{n}",
        "invoice.issued",
        t0 + 50 * MIN,
        system="billing",
        parent=("credit", f"CR-{n}"),
        amount=amount,
        currency=currency,
    )
    return em.hop(
        cid,
        "ledger",
        f"LED-{n}",
        "ledger.posted",
        t0 + 50 * MIN + ledger_delay,
        system="sap",
        parent=("invoice", f"INV-{n}"),
        amount=(ledger_amount or (amount, currency))[0],
        currency=(ledger_amount or (amount, currency))[1],
        idem=f"post-INV-{n}",
    )
