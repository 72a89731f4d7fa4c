"""The hop helper against the real OpenTelemetry SDK, spans captured in memory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode, Tracer

from ledgerline.instrument import (
    DeadLetter,
    HopError,
    Retry,
    current_correlation_id,
    extract_headers,
    extract_message,
    hop,
    inject_headers,
    link_from_message,
)


class TaxError(HopError):
    category = "tax_error"


class Pipeline:
    """Two services with their own providers, sharing one in-memory exporter."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.providers: dict[str, TracerProvider] = {}

    def tracer(self, service: str) -> Tracer:
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.providers[service] = provider
        return provider.get_tracer("test")

    def spans(self) -> dict[str, ReadableSpan]:
        return {str(s.attributes["biz.step"]): s for s in self.exporter.get_finished_spans() if s.attributes}


@pytest.fixture
def pipe() -> Iterator[Pipeline]:
    pipeline = Pipeline()
    yield pipeline
    for provider in pipeline.providers.values():
        provider.shutdown()


def test_hop_sets_business_attributes(pipe: Pipeline) -> None:
    tracer = pipe.tracer("billing")
    with hop(
        "invoice",
        "INV-2026-0042",
        "invoice.issued",
        parent=("credit", "CR-1"),
        amount=120,
        currency="eur",
        correlation_id="corr-1",
        flow="support_credit",
        region="eu-west",
        legal_entity="LL-DE",
        idempotency_key="inv:42",
        system="billing",
        tracer=tracer,
    ) as h:
        assert h.correlation_id == "corr-1"
        assert current_correlation_id() == "corr-1"  # baggage is current inside the hop
    span = pipe.spans()["invoice.issued"]
    assert span.name == "invoice.issued"
    assert dict(span.attributes or {}) == {
        "correlation.id": "corr-1",
        "biz.entity.type": "invoice",
        "biz.entity.id": "INV-2026-0042",
        "biz.step": "invoice.issued",
        "biz.parent.type": "credit",
        "biz.parent.id": "CR-1",
        "biz.flow": "support_credit",
        "biz.system": "billing",
        "biz.idempotency_key": "inv:42",
        "biz.region": "eu-west",
        "biz.legal_entity": "LL-DE",
        "biz.amount": 120.0,
        "biz.currency": "EUR",
        "biz.outcome": "ok",
    }
    assert span.status.status_code is StatusCode.UNSET
    assert current_correlation_id() is None  # detached on exit


def test_correlation_round_trip_through_http_headers(pipe: Pipeline) -> None:
    support, middleware = pipe.tracer("support"), pipe.tracer("middleware")
    with hop("case", "CASE-1", "case.opened", correlation_id="C-77", flow="support_credit", tracer=support) as h:
        headers = dict(h.inject_headers())
    assert set(headers) == {"traceparent", "baggage"}
    assert "correlation.id=C-77" in headers["baggage"]
    # HTTP frameworks may capitalise header names.
    received = {k.title(): v for k, v in headers.items()}
    with hop(
        "credit",
        "CR-1",
        "credit.approved",
        parent=("case", "CASE-1"),
        context=extract_headers(received),
        tracer=middleware,
    ) as h2:
        assert h2.correlation_id == "C-77"
    spans = pipe.spans()
    case, credit = spans["case.opened"], spans["credit.approved"]
    assert credit.attributes and credit.attributes["correlation.id"] == "C-77"
    assert credit.attributes["biz.flow"] == "support_credit"
    assert credit.context.trace_id == case.context.trace_id
    assert credit.parent is not None and credit.parent.span_id == case.context.span_id
    assert credit.resource.attributes["service.name"] == "middleware"


def test_correlation_round_trip_through_message_headers(pipe: Pipeline) -> None:
    billing, erp = pipe.tracer("billing"), pipe.tracer("erp")
    with hop("invoice", "INV-1", "invoice.issued", correlation_id="C-9", tracer=billing) as h:
        message = {"content-type": "application/json", **h.inject_message()}
    # A queue client hands header values back as bytes.
    wire = {k: v.encode() for k, v in message.items()}
    ctx = extract_message(wire)
    assert current_correlation_id(ctx) == "C-9"
    with hop("ledger", "JE-1", "ledger.posted", parent=("invoice", "INV-1"), context=ctx, tracer=erp):
        pass
    spans = pipe.spans()
    assert spans["ledger.posted"].attributes["correlation.id"] == "C-9"  # type: ignore[index]
    assert spans["ledger.posted"].context.trace_id == spans["invoice.issued"].context.trace_id


def test_inject_without_hop_carries_current_baggage() -> None:
    assert inject_headers(context=Context()) == {}
    with hop("case", "CASE-2", "case.opened", correlation_id="C-1"):  # no SDK: non-recording span
        headers = inject_headers()
    assert "correlation.id=C-1" in headers["baggage"]


def test_fan_in_sets_parent_array_and_links(pipe: Pipeline) -> None:
    billing, erp = pipe.tracer("billing"), pipe.tracer("erp")
    messages = []
    for n in range(3):
        with hop("invoice", f"INV-{n}", "invoice.issued", correlation_id=f"C-{n}", tracer=billing) as h:
            messages.append(h.inject_message())
    ids = [f"INV-{n}" for n in range(3)]
    with hop(
        "ledger",
        "JE-BATCH",
        "ledger.posted",
        parent=("invoice", ids),
        correlation_id="BATCH-1",
        links=[link_from_message(m) for m in messages],
        context=Context(),
        tracer=erp,
    ):
        pass
    invoices = [s for s in pipe.exporter.get_finished_spans() if s.name == "invoice.issued"]
    batch = pipe.spans()["ledger.posted"]
    assert batch.attributes and batch.attributes["biz.parent.id"] == tuple(ids)
    assert batch.attributes["correlation.id"] == "BATCH-1"
    assert batch.parent is None  # its own trace
    assert [link.context.span_id for link in batch.links] == [s.context.span_id for s in invoices]
    assert [link.attributes["correlation.id"] for link in batch.links] == ["C-0", "C-1", "C-2"]  # type: ignore[index]


def test_link_from_headers_without_context_is_none() -> None:
    assert link_from_message({}) is None


def test_exception_marks_hop_failed_with_category(pipe: Pipeline) -> None:
    tracer = pipe.tracer("billing")
    with pytest.raises(TaxError), hop("invoice", "INV-1", "invoice.issued", tracer=tracer):
        raise TaxError("VAT rate missing")
    with (
        pytest.raises(KeyError),
        hop("invoice", "INV-2", "invoice.voided", tracer=tracer, categories={LookupError: "unmatched_account"}),
    ):
        raise KeyError("4711")
    with pytest.raises(ZeroDivisionError), hop("invoice", "INV-3", "invoice.rounded", tracer=tracer):
        _ = 1 / 0
    spans = pipe.spans()
    for step, category in [
        ("invoice.issued", "tax_error"),
        ("invoice.voided", "unmatched_account"),
        ("invoice.rounded", "zero_division_error"),
    ]:
        span = spans[step]
        assert span.attributes and span.attributes["biz.outcome"] == "failed"
        assert span.attributes["biz.error.category"] == category
        assert span.status.status_code is StatusCode.ERROR
        assert span.events[0].name == "exception"


def test_retry_and_dead_letter(pipe: Pipeline) -> None:
    tracer = pipe.tracer("erp")
    with pytest.raises(Retry), hop("ledger", "JE-1", "ledger.attempt", tracer=tracer):
        raise Retry(category="erp_unavailable")
    with pytest.raises(RuntimeError), hop("ledger", "JE-1", "ledger.parked", tracer=tracer) as h:
        h.dead_letter("unmatched_account")  # an explicit mark wins over the exception
        raise RuntimeError("account 4711 not in chart")
    with hop("ledger", "JE-1", "ledger.deferred", tracer=tracer) as h:
        h.retry("erp_unavailable")  # marked without raising
    with pytest.raises(DeadLetter), hop("ledger", "JE-2", "ledger.rejected", tracer=tracer):
        raise DeadLetter(category="tax_error")
    spans = pipe.spans()
    expected = {
        "ledger.attempt": ("retry", "erp_unavailable"),
        "ledger.parked": ("dead_letter", "unmatched_account"),
        "ledger.deferred": ("retry", "erp_unavailable"),
        "ledger.rejected": ("dead_letter", "tax_error"),
    }
    for step, (outcome, category) in expected.items():
        attrs = spans[step].attributes or {}
        assert (attrs["biz.outcome"], attrs["biz.error.category"]) == (outcome, category)
    with pytest.raises(ValueError):
        HopError(outcome="lost")


def test_explicit_times_for_backfill(pipe: Pipeline) -> None:
    tracer = pipe.tracer("erp")
    start = 1_700_000_000_000_000_000
    with hop("ledger", "JE-1", "ledger.posted", tracer=tracer, start_time=start) as h:
        h.end_time = start + 250_000_000
    span = pipe.spans()["ledger.posted"]
    assert (span.start_time, span.end_time) == (start, start + 250_000_000)


def test_new_correlation_id_when_none_in_baggage(pipe: Pipeline) -> None:
    with hop("case", "CASE-9", "case.opened", tracer=pipe.tracer("support"), context=Context()) as h:
        assert len(h.correlation_id) == 32
