"""Spans sent by the real OpenTelemetry SDK exporters land in the store, hops derived."""

from __future__ import annotations

import pytest
from opentelemetry.trace import Link, StatusCode

from tests.collector.sdk import grpc_exporter, hop_attributes, http_exporter, provider
from tests.conftest import RunningCollector


def _exporter(kind: str, collector: RunningCollector):
    return http_exporter(collector.http_endpoint) if kind == "http" else grpc_exporter(collector.grpc_target)


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_sdk_spans_are_stored_with_exporter_columns(collector: RunningCollector, transport: str) -> None:
    with provider(_exporter(transport, collector), service="billing-adapter") as tp:
        tracer = tp.get_tracer("billing", "1.2.3")
        with tracer.start_as_current_span(
            "issue invoice",
            attributes=hop_attributes(
                "invoice", "INV-1", "invoice.issued", "C-1", amount=120.5, currency="eur", region="emea"
            ),
        ) as span:
            span.add_event("tax computed", {"tax.rate": 0.2})
            trace_id = format(span.get_span_context().trace_id, "032x")
            span_id = format(span.get_span_context().span_id, "016x")

    rows = collector.store.query_dicts(
        "SELECT TraceId, SpanId, SpanName, SpanKind, ServiceName, ScopeName, ScopeVersion, StatusCode, "
        "SpanAttributes, ResourceAttributes, `Events.Name` AS ev, `Events.Attributes` AS eva, "
        "CorrelationId, Duration FROM otel_traces"
    )
    assert len(rows) == 1
    row = rows[0]
    assert (row["TraceId"], row["SpanId"]) == (trace_id, span_id)
    assert row["SpanName"] == "issue invoice" and row["SpanKind"] == "Internal"
    assert row["ServiceName"] == "billing-adapter" and row["ResourceAttributes"]["service.name"] == "billing-adapter"
    assert (row["ScopeName"], row["ScopeVersion"]) == ("billing", "1.2.3")
    assert row["StatusCode"] == "Unset"
    assert row["SpanAttributes"]["biz.amount"] == "120.5"
    assert row["ev"] == ["tax computed"] and row["eva"] == [{"tax.rate": "0.2"}]
    assert row["CorrelationId"] == "C-1" and row["Duration"] > 0

    hops = collector.store.query_dicts(
        "SELECT CorrelationId, EntityType, EntityId, Step, System, Outcome, Amount, Currency, Region FROM hops FINAL"
    )
    assert hops == [
        {
            "CorrelationId": "C-1",
            "EntityType": "invoice",
            "EntityId": "INV-1",
            "Step": "invoice.issued",
            "System": "billing-adapter",
            "Outcome": "ok",
            "Amount": 120.5,
            "Currency": "EUR",
            "Region": "emea",
        }
    ]


def test_fan_in_array_parent_and_links_become_edges(collector: RunningCollector) -> None:
    with provider(http_exporter(collector.http_endpoint), service="erp") as tp:
        tracer = tp.get_tracer("erp")
        attrs = hop_attributes("invoice", "INV-7", "invoice.issued", "C-7")
        with tracer.start_as_current_span("issue", attributes=attrs) as inv:
            invoice_ctx = inv.get_span_context()
        journal = tracer.start_span(
            "post journal",
            links=[Link(invoice_ctx)],
            attributes=hop_attributes(
                "ledger",
                "J-1",
                "ledger.posted",
                "BATCH-1",
                **{"parent.type": "invoice", "parent.id": ["INV-7", "INV-8"]},
            ),
        )
        journal.set_status(StatusCode.ERROR)
        journal.end()

    edges = collector.store.query(
        "SELECT DISTINCT ParentType, ParentId, ChildType, ChildId, CorrelationId FROM entity_edges "
        "WHERE KeyType = 'ledger' AND KeyId = 'J-1' ORDER BY ParentId"
    )
    assert edges == [("invoice", "INV-7", "ledger", "J-1", "BATCH-1"), ("invoice", "INV-8", "ledger", "J-1", "BATCH-1")]
    up = collector.store.query(
        "SELECT DISTINCT CorrelationId FROM entity_edges WHERE KeyType = 'invoice' AND KeyId = 'INV-7' "
        "AND Direction = 'child'"
    )
    assert up == [("BATCH-1",)]
    links = collector.store.query(
        "SELECT DISTINCT CorrelationId, EntityId FROM span_links WHERE KeyTraceId = {t:String} "
        "AND KeySpanId = {s:String} AND Direction = 'in'",
        {"t": format(invoice_ctx.trace_id, "032x"), "s": format(invoice_ctx.span_id, "016x")},
    )
    assert links == [("BATCH-1", "J-1")]
    outcome = collector.store.query("SELECT Outcome FROM hops FINAL WHERE EntityId = 'J-1'")
    assert outcome == [("failed",)]
