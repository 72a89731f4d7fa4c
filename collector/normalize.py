"""Normalise a parsed export request so both decoders store exactly the same rows. Pure.

The native decoder (ClickHouse's ``Protobuf`` input format) reads a narrower schema than
OTLP allows: absent optional messages arrive as NULL tuples, attribute values nest one
level, doubles print differently and duplicate keys survive into the map. Rather than
teach SQL every corner of OTLP, the collector normalises the message it already parsed
for validation and stores that message re-serialized:

* invalid spans (see :func:`collector.otlp.invalid_reason`), and spans outside the accepted
  time window (the raw retention back, ``LEDGERLINE_MAX_FUTURE_S`` ahead), are removed and
  counted, so the partial-success count is exactly what is not stored (or kept);
* absent ``resource``, ``scope``, ``status`` and attribute values become empty messages;
* attribute values other than string, int and bool become the string the Python decoder
  writes (:func:`collector.otlp.value_str`), so nesting depth and number formatting are
  decided in one place;
* duplicate attribute keys keep the last value at the first position, as a dict does;
* unknown fields are dropped (a receiver must ignore them, and ClickHouse need not see them).

:func:`split` then serializes it, as one payload or, when it is over the batch limits,
as several (a commit's memory in ClickHouse grows with its spans and bytes).
"""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.otlp import STORABLE, TimeWindow, Verdict, invalid_reason, value_str

# Kinds the native decoder stringifies exactly as value_str does.
_NATIVE_KINDS = frozenset(("string_value", "int_value", "bool_value"))


def _attributes(kvs: Any) -> None:
    """Make a repeated KeyValue field native-safe, in place."""
    seen: set[str] = set()
    duplicate = False
    for kv in kvs:
        key = kv.key
        if key in seen:
            duplicate = True
        seen.add(key)
        value = kv.value
        kind = value.WhichOneof("value")
        if kind not in _NATIVE_KINDS:
            # Covers an absent value too: value_str gives "" and the message becomes present.
            kv.value.string_value = value_str(value)
    if duplicate:
        # As a dict does: the first position, the last value.
        first: dict[str, int] = {}
        later: list[int] = []
        for i, kv in enumerate(kvs):
            if kv.key in first:
                kvs[first[kv.key]].value.CopyFrom(kv.value)
                later.append(i)
            else:
                first[kv.key] = i
        for i in reversed(later):
            del kvs[i]


def normalise(request: ExportTraceServiceRequest, window: TimeWindow = STORABLE) -> Verdict:
    """Remove invalid spans (or outside ``window``) and make the rest storable alike by both decoders, in place."""
    verdict = Verdict()
    reasons = verdict.reasons
    accepted = 0
    request.DiscardUnknownFields()
    for resource_spans in request.resource_spans:
        resource_spans.resource.SetInParent()
        _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope_spans.scope.SetInParent()
            spans = scope_spans.spans
            invalid: list[int] = []
            for i, span in enumerate(spans):
                reason = invalid_reason(span, window)
                if reason is not None:
                    reasons[reason] += 1
                    invalid.append(i)
                    continue
                span.status.SetInParent()
                _attributes(span.attributes)
                for event in span.events:
                    _attributes(event.attributes)
                for link in span.links:
                    _attributes(link.attributes)
            for i in reversed(invalid):
                del spans[i]
            accepted += len(spans)
    verdict.accepted = accepted
    verdict.rejected = sum(reasons.values())
    return verdict


def split(request: ExportTraceServiceRequest, spans: int, max_spans: int, max_bytes: int) -> list[tuple[bytes, int]]:
    """The normalised request (of ``spans`` spans) serialized as (payload, span count) pairs.

    Almost every request is one payload. One of more than ``max_spans`` spans or
    ``max_bytes`` bytes is cut between spans (each part keeps its spans' resource and
    scope), so no commit need hold more than the batch limits allow.
    """
    body = request.SerializeToString()
    if spans <= max_spans and len(body) <= max_bytes:
        return [(body, spans)]
    del body
    parts: list[tuple[bytes, int]] = []
    part, count, size = ExportTraceServiceRequest(), 0, 0
    target: Any = None  # the part's ScopeSpans the current spans go to
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            target = None  # a new scope: a new ScopeSpans in the part
            for span in scope_spans.spans:
                n = span.ByteSize()
                if count and (count + 1 > max_spans or size + n > max_bytes):
                    parts.append((part.SerializeToString(), count))
                    part, count, size, target = ExportTraceServiceRequest(), 0, 0, None
                if target is None:
                    into = part.resource_spans.add(schema_url=resource_spans.schema_url)
                    into.resource.CopyFrom(resource_spans.resource)
                    target = into.scope_spans.add(schema_url=scope_spans.schema_url)
                    target.scope.CopyFrom(scope_spans.scope)
                target.spans.add().CopyFrom(span)
                count += 1
                size += n
    if count:
        parts.append((part.SerializeToString(), count))
    return parts
