"""Realistic OTLP payloads for the benchmarks: business-hop spans with about 12 attributes
(:func:`hop_request`), or the realistic mix of one hop per four spans, the other three its
technical HTTP/DB child spans (:func:`mixed_request`)."""

from __future__ import annotations

import os
import random
import time
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

_STEPS = (
    ("case", "case.opened", "support"),
    ("credit", "credit.approved", "support"),
    ("invoice", "invoice.issued", "billing"),
    ("ledger", "ledger.posted", "erp"),
)
_REGIONS = ("emea", "amer", "apac")


def _kv(key: str, value: str | float) -> KeyValue:
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _request() -> tuple[ExportTraceServiceRequest, Any]:
    """An empty export request with the bench's resource and scope; its scope's span list."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(
        [_kv("service.name", "billing-adapter"), _kv("deployment.environment", "prod")]
    )
    scope = resource_spans.scope_spans.add()
    scope.scope.name = "ledgerline.bench"
    return request, scope.spans


def _hop_span(rng: random.Random, i: int, now_ns: int) -> Span:
    """The ``i``-th business-hop span (12 attributes, ``biz.*`` among them)."""
    txn = rng.randrange(10**9)
    entity, step, system = _STEPS[i % 4]
    span = Span(
        trace_id=os.urandom(16),
        span_id=os.urandom(8),
        parent_span_id=os.urandom(8),
        name=step,
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=now_ns - rng.randrange(10**12),
        end_time_unix_nano=0,
    )
    span.end_time_unix_nano = span.start_time_unix_nano + rng.randrange(10**9)
    span.attributes.extend(
        [
            _kv("correlation.id", f"corr-{txn:09d}"),
            _kv("biz.flow", "support_credit"),
            _kv("biz.entity.type", entity),
            _kv("biz.entity.id", f"{entity.upper()}-2026-{txn:09d}"),
            _kv("biz.parent.type", _STEPS[(i - 1) % 4][0]),
            _kv("biz.parent.id", f"P-{txn:09d}"),
            _kv("biz.step", step),
            _kv("biz.system", system),
            _kv("biz.outcome", "ok"),
            _kv("biz.amount", round(rng.uniform(10, 5000), 2)),
            _kv("biz.currency", "EUR"),
            _kv("biz.region", rng.choice(_REGIONS)),
        ]
    )
    return span


# The technical children of a hop (auto-instrumentation: HTTP client calls and a database
# query), with the usual semantic-convention attributes and no business ones.
_TECHNICAL = (
    (
        "HTTP POST",
        (
            ("http.method", "POST"),
            ("http.url", "https://erp.internal/api/v2/documents"),
            ("http.status_code", "200"),
            ("net.peer.name", "erp.internal"),
            ("http.user_agent", "python-httpx/0.27"),
        ),
    ),
    (
        "SELECT",
        (
            ("db.system", "postgresql"),
            ("db.name", "billing"),
            ("db.operation", "SELECT"),
            ("db.statement", "SELECT id, status, amount FROM invoices WHERE id = $1"),
            ("net.peer.name", "billing-db.internal"),
        ),
    ),
    (
        "HTTP GET",
        (
            ("http.method", "GET"),
            ("http.url", "https://tax.internal/api/v1/rates"),
            ("http.status_code", "200"),
            ("net.peer.name", "tax.internal"),
            ("http.user_agent", "python-httpx/0.27"),
        ),
    ),
)


def hop_request(spans: int, seed: int, now_ns: int | None = None) -> ExportTraceServiceRequest:
    """One export request of ``spans`` business-hop spans from a billing/ERP estate."""
    rng = random.Random(seed)
    now_ns = now_ns or time.time_ns()
    request, out = _request()
    for i in range(spans):
        out.append(_hop_span(rng, i, now_ns))
    return request


def mixed_request(spans: int, seed: int, now_ns: int | None = None) -> ExportTraceServiceRequest:
    """One export request of ``spans`` spans in the realistic mix: every fourth span a business
    hop (as in :func:`hop_request`), the three after it technical HTTP/DB child spans of that
    hop, in its trace, without any ``biz.*`` attribute (the last hop may have fewer children)."""
    rng = random.Random(seed)
    now_ns = now_ns or time.time_ns()
    request, out = _request()
    for i in range(spans):
        if i % 4 == 0:
            hop = _hop_span(rng, i // 4, now_ns)
            out.append(hop)
            continue
        name, attributes = _TECHNICAL[i % 4 - 1]
        start = hop.start_time_unix_nano + (i % 4) * 1_000_000
        span = Span(
            trace_id=hop.trace_id,
            span_id=os.urandom(8),
            parent_span_id=hop.span_id,
            name=name,
            kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=start,
            end_time_unix_nano=start + rng.randrange(1_000_000, 200_000_000),
        )
        span.attributes.extend(_kv(k, v) for k, v in attributes)
        out.append(span)
    return request


def otlp_json(request: ExportTraceServiceRequest) -> bytes:
    """The request as OTLP/JSON (hex trace and span IDs, as SDKs send it)."""
    import base64
    import json

    from google.protobuf import json_format

    document = json_format.MessageToDict(request)
    for resource_spans in document.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(document).encode()


def json_body(megabytes: float, seed: int = 0) -> tuple[bytes, int]:
    """An OTLP/JSON body of about ``megabytes`` MB and its span count."""
    probe = otlp_json(hop_request(100, seed=seed))
    spans = max(1, int(megabytes * 1_000_000 / len(probe) * 100))
    return otlp_json(hop_request(spans, seed=seed)), spans
