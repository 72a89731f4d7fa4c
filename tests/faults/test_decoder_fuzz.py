"""Differential fuzz: the native (ClickHouse) path and the Python decoder store identical rows.

Hypothesis generates valid ExportTraceServiceRequests with everything OTLP allows and
SDKs rarely send: absent optional messages, every AnyValue kind, arrays and kvlists
nested several levels, empty and unicode strings, extreme ints and doubles, duplicate
attribute keys, out-of-range kinds and times, times on either side of the accepted window
(the raw retention back, the future bound ahead). The Python decoder reads the request as
received (the reference); the collector's native path normalises it and lets ClickHouse
decode it. Both must store the same rows and count the same rejections.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from collector import queries
from collector.normalize import normalise
from collector.otlp import MAX_TIME_NS, accepted_window, to_rows
from collector.sinks import NativeSink, RowSink
from collector.store import Store
from collector.writer import Payload
from tests.faults.conftest import examples, report

pytestmark = [pytest.mark.faults, pytest.mark.timeout(600)]
EXAMPLES = examples(40)  # about 10 s on the 2-core CI machine; bench/faults.py runs more

_text = st.text(max_size=12)
_scalar = st.one_of(
    st.builds(lambda v: AnyValue(string_value=v), _text),
    st.builds(lambda v: AnyValue(bool_value=v), st.booleans()),
    st.builds(lambda v: AnyValue(int_value=v), st.integers(-(2**63), 2**63 - 1)),
    st.builds(lambda v: AnyValue(double_value=v), st.floats(allow_nan=True, allow_infinity=True)),
    st.builds(lambda v: AnyValue(bytes_value=v), st.binary(max_size=6)),
    st.just(AnyValue()),  # a value with no kind set
)


def _array(values: list[AnyValue]) -> AnyValue:
    return AnyValue(array_value=ArrayValue(values=values))


def _kvlist(pairs: list[tuple[str, AnyValue]]) -> AnyValue:
    return AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in pairs]))


_any = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.builds(_array, st.lists(inner, max_size=3)),
        st.builds(_kvlist, st.lists(st.tuples(_text, inner), max_size=3)),
    ),
    max_leaves=8,
)
_keys = st.sampled_from(["a", "b", "", "ключ", "biz.step", "service.name"])


@st.composite
def _attributes(draw: st.DrawFn) -> list[KeyValue]:
    out = []
    for key in draw(st.lists(_keys, max_size=4)):  # repeated keys: duplicates on purpose
        out.append(KeyValue(key=key) if draw(st.integers(0, 9)) == 0 else KeyValue(key=key, value=draw(_any)))
    return out


# "Now" is pinned so the examples stay reproducible; the window is the collector's default.
NOW_NS = 1_800_000_000 * 10**9
WINDOW = accepted_window(NOW_NS, 30, 86_400)
_time = st.one_of(
    st.integers(1, MAX_TIME_NS),
    st.integers(WINDOW.earliest_ns, WINDOW.latest_ns),  # mostly accepted
    st.integers(WINDOW.earliest_ns - 10**6, WINDOW.earliest_ns + 10**6),  # either side of the retention
    st.integers(WINDOW.latest_ns - 10**6, WINDOW.latest_ns + 10**6),  # either side of the future bound
    st.sampled_from([0, 1, 1_700_000_000 * 10**9, NOW_NS, MAX_TIME_NS, MAX_TIME_NS + 1, 2**64 - 1]),
)
_id16 = st.one_of(st.binary(min_size=16, max_size=16), st.sampled_from([b"", bytes(16), b"\x01" * 15]))
_id8 = st.one_of(st.binary(min_size=8, max_size=8), st.sampled_from([b"", bytes(8)]))


@st.composite
def _span(draw: st.DrawFn) -> Span:
    start = draw(_time)
    end = draw(st.one_of(_time, st.integers(0, 10**12).map(lambda d: min(start + d, 2**64 - 1))))
    span = Span(
        trace_id=draw(_id16),
        span_id=draw(_id8),
        parent_span_id=draw(st.one_of(st.just(b""), _id8)),
        trace_state=draw(_text),
        name=draw(_text),
        kind=draw(st.integers(0, 7)),
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        attributes=draw(_attributes()),
    )
    if draw(st.booleans()):
        span.status.CopyFrom(Status(code=draw(st.integers(0, 4)), message=draw(_text)))
    for _ in range(draw(st.integers(0, 2))):
        event = span.events.add(time_unix_nano=draw(st.integers(0, MAX_TIME_NS)), name=draw(_text))
        event.attributes.extend(draw(_attributes()))
    for _ in range(draw(st.integers(0, 2))):
        link = span.links.add(trace_id=draw(_id16), span_id=draw(_id8), trace_state=draw(_text))
        link.attributes.extend(draw(_attributes()))
    return span


@st.composite
def requests(draw: st.DrawFn) -> ExportTraceServiceRequest:
    """A valid OTLP export request (some of its spans invalid, as senders do)."""
    request = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(1, 2))):
        rs = ResourceSpans()
        if draw(st.booleans()):
            rs.resource.attributes.extend(draw(_attributes()))
        for _ in range(draw(st.integers(0, 2))):
            ss = ScopeSpans(spans=draw(st.lists(_span(), max_size=3)))
            if draw(st.booleans()):
                ss.scope.name, ss.scope.version = draw(_text), draw(_text)
            rs.scope_spans.append(ss)
        request.resource_spans.append(rs)
    return request


def _stored(store: Store) -> list[tuple[object, ...]]:
    columns = ", ".join(f"`{c}`" for c in queries.OTEL_TRACES_COLUMNS)
    # Maps come back as dicts, which would hide duplicate keys: read the keys as stored too,
    # and what ClickHouse itself answers for a key (the first match).
    keys = (
        "mapKeys(ResourceAttributes), mapKeys(SpanAttributes), arrayMap(m -> mapKeys(m), `Events.Attributes`), "
        "arrayMap(m -> mapKeys(m), `Links.Attributes`), SpanAttributes['a'], ResourceAttributes['a']"
    )
    rows = store.query(f"SELECT {columns}, {keys} FROM otel_traces")
    store.command("TRUNCATE TABLE otel_traces")
    return sorted((_comparable(row) for row in rows), key=repr)


def _comparable(row: Sequence[object]) -> tuple[object, ...]:
    # NaN != NaN would make equal rows differ; no float column exists, but be explicit.
    return tuple("nan" if isinstance(v, float) and math.isnan(v) else v for v in row)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(request=requests())
def test_native_and_python_decoders_store_identical_rows(store: Store, request: ExportTraceServiceRequest) -> None:
    raw = request.SerializeToString()
    reference = to_rows(ExportTraceServiceRequest.FromString(raw), WINDOW)
    if reference.rows:
        RowSink(store).insert(reference.rows)
    python_rows = _stored(store)

    normalised = ExportTraceServiceRequest.FromString(raw)
    verdict = normalise(normalised, WINDOW)
    assert (verdict.accepted, verdict.rejected, verdict.reasons) == (
        reference.accepted,
        reference.rejected,
        reference.reasons,
    )
    if verdict.accepted:
        NativeSink(store)([Payload(normalised.SerializeToString(), verdict.accepted)])
    native_rows = _stored(store)
    assert len(python_rows) == reference.accepted
    assert native_rows == python_rows
    report(fuzz_cases=1, fuzz_spans=reference.accepted + reference.rejected)
