"""OTLP trace decoding: request bytes -> validated rows for ``otel_traces``. Pure, no I/O.

OTLP/JSON is not protobuf's generic JSON mapping: trace and span IDs are hex, not
base64. :func:`parse_json` rewrites the IDs before handing the document to protobuf's
parser, which already accepts int64 as strings and enums as integers.

Values are stringified the way the OpenTelemetry Collector's ClickHouse exporter does
(``pcommon.Value.AsString``): ints in decimal, booleans as ``true``/``false``, arrays
and maps as JSON, bytes as base64, so both writers fill the table alike.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from collector.errors import MalformedPayload, PayloadTooLarge

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
SPAN_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
STATUS_CODES = ("Unset", "Ok", "Error")
_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)
# Base64 of one byte: an ID of the wrong length, so the span is rejected, not the request.
_INVALID_ID = "AA=="
# The storable time range, the same in both decoders: 1970-01-01 (exclusive) to the end of
# ClickHouse's DateTime64(9), 2262-04-11T23:47:16.854775807Z; a span lasts at most a year.
MAX_TIME_NS = 2**63 - 1
MAX_DURATION_NS = 366 * 86_400 * 10**9
_DAY_NS = 86_400 * 10**9


def media_type(content_type: str | None) -> str | None:
    """The OTLP media type named by a ``Content-Type`` header, or None when unsupported.

    The one place a content type is parsed: handlers and decoders take its result.
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media if media in (PROTOBUF, JSON) else None


@dataclass
class Verdict:
    """How many spans of a request are valid, and why the others are not."""

    accepted: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def error_message(self) -> str:
        """The OTLP partial-success message; empty when nothing was rejected."""
        if not self.rejected:
            return ""
        detail = ", ".join(f"{n} {reason}" for reason, n in sorted(self.reasons.items()))
        return f"rejected {self.rejected} span(s): {detail}"


@dataclass(frozen=True)
class TimeWindow:
    """The times an acknowledged span may have, within the storable range.

    A span that starts before ``earliest_ns`` is older than the raw retention: the TTL would
    delete it at the next merge, so acknowledging it would be a lie. One that ends after
    ``latest_ns`` comes from a clock far ahead and would outlive the retention. The reasons
    are the partial-success messages.
    """

    earliest_ns: int = 1
    latest_ns: int = MAX_TIME_NS
    too_old: str = "start before 1970-01-01"
    too_new: str = "time after 2262-04-11"


STORABLE = TimeWindow()
"""Only the storable range: for payloads already checked against a window when received."""


def accepted_window(now_ns: int, retention_days: int, future_s: float) -> TimeWindow:
    """The window of a request received at ``now_ns``: the raw retention back, ``future_s`` ahead."""
    return TimeWindow(
        max(1, now_ns - retention_days * _DAY_NS),
        min(MAX_TIME_NS, now_ns + int(future_s * 10**9)),
        f"start older than the {retention_days}-day raw retention",
        f"end more than {future_s:g} s in the future",
    )


@dataclass
class DecodedBatch(Verdict):
    """Rows ready for insert (the Python decoder), plus what was rejected and why."""

    rows: list[list[Any]] = field(default_factory=list)


# -- bodies -------------------------------------------------------------------------------
def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo ``Content-Encoding``; refuse output over ``limit`` bytes (decompression bombs).

    Every gzip member is decoded (RFC 1952 allows several, and ``gzip -c a b`` makes
    them); anything after the last member that is not another member is refused, so
    what is acknowledged is everything that was sent.
    """
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise MalformedPayload(f"unsupported Content-Encoding {encoding!r}; use gzip or identity")
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    out = bytearray()
    rest = body
    while True:
        inflater = zlib.decompressobj(wbits)
        try:
            out += inflater.decompress(rest, limit + 1 - len(out))
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise MalformedPayload(f"body is not valid {encoding}: {exc}") from exc
        if len(out) > limit:
            raise PayloadTooLarge(f"decompressed body is over the {limit}-byte limit")
        if not inflater.eof:
            raise MalformedPayload(f"body is truncated {encoding}")
        rest = inflater.unused_data
        if not rest:
            return bytes(out)
        if encoding != "gzip":
            raise MalformedPayload(f"{len(rest)} byte(s) of trailing data after the {encoding} stream")


def parse_protobuf(body: bytes) -> ExportTraceServiceRequest:
    """Parse a binary ExportTraceServiceRequest."""
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, ValueError) as exc:
        raise MalformedPayload(f"body is not a valid ExportTraceServiceRequest: {exc}") from exc
    return request


def _hex_to_b64(value: Any) -> str:
    if not isinstance(value, str) or not value:
        return "" if value in (None, "") else _INVALID_ID
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError:
        return _INVALID_ID


def _fix_ids(document: Any) -> None:
    """Rewrite OTLP/JSON hex IDs in place into the base64 protobuf's JSON parser expects."""
    if not isinstance(document, dict):
        raise MalformedPayload("body must be a JSON object with resourceSpans")
    for resource_spans in document.get("resourceSpans") or []:
        for scope_spans in (resource_spans or {}).get("scopeSpans") or []:
            for span in (scope_spans or {}).get("spans") or []:
                if not isinstance(span, dict):
                    continue
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = _hex_to_b64(span[key])
                for link in span.get("links") or []:
                    if isinstance(link, dict):
                        for key in ("traceId", "spanId"):
                            if key in link:
                                link[key] = _hex_to_b64(link[key])


def parse_json(body: bytes) -> ExportTraceServiceRequest:
    """Parse an OTLP/JSON ExportTraceServiceRequest (hex IDs, int64 as strings)."""
    try:
        document = json.loads(body)
    except RecursionError:
        raise MalformedPayload("body is not valid JSON: nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedPayload(f"body is not valid JSON: {exc}") from exc
    try:
        _fix_ids(document)
        # Unknown fields must be ignored by OTLP receivers (forward compatibility).
        request: ExportTraceServiceRequest = json_format.ParseDict(
            document, ExportTraceServiceRequest(), ignore_unknown_fields=True
        )
        return request
    except RecursionError:
        raise MalformedPayload("body is not a valid OTLP/JSON ExportTraceServiceRequest: nested too deeply") from None
    except (json_format.ParseError, AttributeError, TypeError, ValueError) as exc:
        raise MalformedPayload(f"body is not a valid OTLP/JSON ExportTraceServiceRequest: {exc}") from exc


# -- values -------------------------------------------------------------------------------
def _plain(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_plain(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind)


def value_str(value: AnyValue) -> str:
    """Stringify an attribute value as the ClickHouse exporter does."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return str(value.int_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "double_value":
        return repr(value.double_value)
    if kind is None:
        return ""
    return json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False)


def attributes(kvs: Any) -> dict[str, str]:
    """KeyValue list -> the exporter's Map(String, String)."""
    out: dict[str, str] = {}
    for kv in kvs:
        value = kv.value
        # Fast path: most business attributes are strings.
        out[kv.key] = value.string_value if value.HasField("string_value") else value_str(value)
    return out


# -- validation and rows ------------------------------------------------------------------
def invalid_reason(span: Any, window: TimeWindow = STORABLE) -> str | None:
    """Why a span cannot be stored (or kept, see :class:`TimeWindow`), or None: the one rule set of both decoders."""
    trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE:
        return "invalid trace_id"
    if len(span_id) != 8 or span_id == _ZERO_SPAN:
        return "invalid span_id"
    if parent and len(parent) != 8:
        return "invalid parent_span_id"
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    if not start:
        return "missing start_time_unix_nano"
    if not end:
        return "missing end_time_unix_nano"
    if start > MAX_TIME_NS or end > MAX_TIME_NS:
        return "time after 2262-04-11"
    if end < start:
        return "end before start"
    if end - start > MAX_DURATION_NS:
        return "duration over 366 days"
    if any(event.time_unix_nano > MAX_TIME_NS for event in span.events):
        return "event time after 2262-04-11"
    if start < window.earliest_ns:
        return window.too_old
    if end > window.latest_ns:
        return window.too_new
    return None


def _span_row(span: Any, resource: dict[str, str], service: str, scope: tuple[str, str]) -> list[Any]:
    start = span.start_time_unix_nano
    links = span.links
    events = span.events
    status = span.status
    return [
        start,
        span.trace_id.hex(),
        span.span_id.hex(),
        span.parent_span_id.hex(),
        span.trace_state,
        span.name,
        SPAN_KINDS[span.kind] if 0 <= span.kind < len(SPAN_KINDS) else "Unspecified",
        service,
        resource,
        scope[0],
        scope[1],
        attributes(span.attributes),
        span.end_time_unix_nano - start,
        STATUS_CODES[status.code] if 0 <= status.code < len(STATUS_CODES) else "Unset",
        status.message,
        [e.time_unix_nano for e in events],
        [e.name for e in events],
        [attributes(e.attributes) for e in events],
        [link.trace_id.hex() for link in links],
        [link.span_id.hex() for link in links],
        [link.trace_state for link in links],
        [attributes(link.attributes) for link in links],
    ]


def validate(request: ExportTraceServiceRequest, window: TimeWindow = STORABLE) -> Verdict:
    """Count the valid spans and the rejected ones, with the rules ClickHouse applies too."""
    verdict = Verdict()
    reasons = verdict.reasons
    total = 0
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                total += 1
                reason = invalid_reason(span, window)
                if reason is not None:
                    reasons[reason] += 1
    verdict.rejected = sum(reasons.values())
    verdict.accepted = total - verdict.rejected
    return verdict


def to_rows(request: ExportTraceServiceRequest, window: TimeWindow = STORABLE) -> DecodedBatch:
    """Validate every span and turn the valid ones into ``otel_traces`` rows."""
    batch = DecodedBatch()
    rows, reasons = batch.rows, batch.reasons
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        service = resource.get("service.name", "")
        for scope_spans in resource_spans.scope_spans:
            scope = (scope_spans.scope.name, scope_spans.scope.version)
            for span in scope_spans.spans:
                reason = invalid_reason(span, window)
                if reason is not None:
                    reasons[reason] += 1
                    continue
                rows.append(_span_row(span, resource, service, scope))
    batch.rejected = sum(reasons.values())
    batch.accepted = len(rows)
    return batch


def decode(body: bytes, media: str) -> ExportTraceServiceRequest:
    """Parse a request body of a media type from :func:`media_type`."""
    if media == PROTOBUF:
        return parse_protobuf(body)
    if media == JSON:
        return parse_json(body)
    raise MalformedPayload(f"unsupported Content-Type {media!r}; use {PROTOBUF} or {JSON}")
