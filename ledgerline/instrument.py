"""Business-hop instrumentation: one call per hop, on top of ``opentelemetry-api`` only.

A *hop* is a span carrying the ``biz.*`` attributes ledgerline reads (see
docs/conventions.md)::

    with hop("invoice", "INV-2026-0042", "invoice.issued", parent=("credit", "CR-17"),
             amount=120.0, currency="EUR") as h:
        publish(invoice, headers=h.inject_message())

The correlation ID travels in W3C baggage (``correlation.id``) next to the W3C trace
context, so a consumer in another process that extracts the headers continues the same
business transaction. A raised exception marks the hop ``failed`` (or the outcome the
exception names) with an error category; :meth:`Hop.retry` and :meth:`Hop.dead_letter`
mark it explicitly. Fan-in (one journal posting many invoices) is ``parent=("invoice",
[ids...])`` plus ``links=`` from each upstream message.

The propagator is fixed to TraceContext + W3C Baggage rather than the global one, so
the correlation ID is carried even when ``OTEL_PROPAGATORS`` names another format.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes, AttributeValue

__all__ = [
    "CORRELATION_KEY",
    "OUTCOMES",
    "PROPAGATOR",
    "DeadLetter",
    "Hop",
    "HopError",
    "Retry",
    "current_correlation_id",
    "extract_headers",
    "extract_message",
    "hop",
    "inject_headers",
    "inject_message",
    "link_from_headers",
    "link_from_message",
]

CORRELATION_KEY = "correlation.id"
FLOW_KEY = "biz.flow"
OUTCOMES = ("ok", "retry", "failed", "dead_letter")
_ERROR_OUTCOMES = frozenset({"retry", "failed", "dead_letter"})

PROPAGATOR = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])

Carrier = Mapping[str, Any]
Parent = tuple[str, str | Sequence[str]]


# -- exceptions ---------------------------------------------------------------------------
class HopError(Exception):
    """An error that names its hop outcome and error category.

    Subclass with class attributes (``category = "tax_error"``) or pass them per raise.
    Any other exception with a string ``category`` attribute is honoured too.
    """

    category: str = "error"
    outcome: str = "failed"

    def __init__(self, message: str = "", *, category: str | None = None, outcome: str | None = None):
        super().__init__(message or category or self.category)
        if category is not None:
            self.category = category
        if outcome is not None:
            if outcome not in OUTCOMES:
                raise ValueError(f"unknown outcome {outcome!r}; use one of {OUTCOMES}")
            self.outcome = outcome


class Retry(HopError):
    """The hop failed transiently and will be retried (outcome ``retry``)."""

    outcome = "retry"


class DeadLetter(HopError):
    """The hop was parked on a dead-letter queue (outcome ``dead_letter``)."""

    outcome = "dead_letter"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _classify(exc: BaseException, categories: Mapping[type[BaseException], str] | None) -> tuple[str, str]:
    """(outcome, category) of an exception raised inside a hop."""
    outcome = getattr(exc, "outcome", "failed")
    if outcome not in OUTCOMES or outcome == "ok":
        outcome = "failed"
    for cls in type(exc).__mro__:  # most specific mapping entry wins
        if categories and cls in categories:
            return outcome, categories[cls]
    category = getattr(exc, "category", None)
    return outcome, category if isinstance(category, str) and category else _snake(type(exc).__name__)


# -- carriers -----------------------------------------------------------------------------
class _HeaderGetter(Getter[Carrier]):
    """Reads HTTP headers case-insensitively; message header values may be bytes or lists."""

    def get(self, carrier: Carrier, key: str) -> list[str] | None:
        value = carrier.get(key)
        if value is None:
            wanted = key.lower()
            value = next((v for k, v in carrier.items() if str(k).lower() == wanted), None)
        if value is None:
            return None
        values = value if isinstance(value, list | tuple) else [value]
        return [v.decode("utf-8", "replace") if isinstance(v, bytes | bytearray) else str(v) for v in values]

    def keys(self, carrier: Carrier) -> list[str]:
        return [str(k) for k in carrier]


_GETTER = _HeaderGetter()


def inject_headers(
    headers: MutableMapping[str, str] | None = None, context: Context | None = None
) -> MutableMapping[str, str]:
    """Write ``traceparent``/``tracestate``/``baggage`` for ``context`` (default: current) into headers."""
    carrier: MutableMapping[str, str] = {} if headers is None else headers
    PROPAGATOR.inject(carrier, context=context)
    return carrier


def extract_headers(headers: Carrier, context: Context | None = None) -> Context:
    """The context (remote parent span and baggage) carried by HTTP headers."""
    return PROPAGATOR.extract(headers, context=context, getter=_GETTER)


# Queue headers use the same W3C fields; separate names keep call sites self-describing.
def inject_message(
    headers: MutableMapping[str, str] | None = None, context: Context | None = None
) -> MutableMapping[str, str]:
    """Write the trace context and baggage into a message's header dict."""
    return inject_headers(headers, context)


def extract_message(headers: Carrier, context: Context | None = None) -> Context:
    """The context carried by a message's header dict (values may be bytes)."""
    return extract_headers(headers, context)


def current_correlation_id(context: Context | None = None) -> str | None:
    """The business correlation ID in the baggage of ``context`` (default: current)."""
    value = baggage.get_baggage(CORRELATION_KEY, context)
    return str(value) if value else None


def _link_from(ctx: Context) -> Link | None:
    span_context = trace.get_current_span(ctx).get_span_context()
    if not span_context.is_valid:
        return None
    correlation = current_correlation_id(ctx)
    return Link(span_context, {CORRELATION_KEY: correlation} if correlation else None)


def link_from_headers(headers: Carrier) -> Link | None:
    """A span link to the upstream span named by HTTP headers (for fan-in), if any."""
    return _link_from(extract_headers(headers, Context()))


def link_from_message(headers: Carrier) -> Link | None:
    """A span link to the upstream span named by a message's headers, if any."""
    return _link_from(extract_message(headers, Context()))


# -- the hop ------------------------------------------------------------------------------
class Hop:
    """A business hop in progress: its span, correlation ID and outcome."""

    def __init__(self, span: Span, context: Context, correlation_id: str) -> None:
        self.span = span
        self.context = context
        self.correlation_id = correlation_id
        self.outcome: str | None = None
        self.category: str | None = None
        self.end_time: int | None = None  # nanoseconds; set to end the span at a given time

    def mark(self, outcome: str, category: str | None = None) -> None:
        """Set the outcome (``ok``, ``retry``, ``failed``, ``dead_letter``) and error category."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; use one of {OUTCOMES}")
        self.outcome, self.category = outcome, category

    def retry(self, category: str) -> None:
        """Mark a transient failure that will be retried."""
        self.mark("retry", category)

    def dead_letter(self, category: str) -> None:
        """Mark the hop as parked on a dead-letter queue."""
        self.mark("dead_letter", category)

    def fail(self, category: str) -> None:
        """Mark the hop failed without raising."""
        self.mark("failed", category)

    def set(self, key: str, value: AttributeValue) -> None:
        """Set any further span attribute."""
        self.span.set_attribute(key, value)

    def inject_headers(self, headers: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
        """HTTP headers continuing this hop's trace and business transaction."""
        return inject_headers(headers, self.context)

    def inject_message(self, headers: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
        """Message headers continuing this hop's trace and business transaction."""
        return inject_message(headers, self.context)

    def _finish(self) -> None:
        outcome = self.outcome or "ok"
        self.span.set_attribute("biz.outcome", outcome)
        if self.category:
            self.span.set_attribute("biz.error.category", self.category)
        if outcome in _ERROR_OUTCOMES:
            self.span.set_status(Status(StatusCode.ERROR, self.category or outcome))
        self.span.end(end_time=self.end_time)


def _hop_attributes(
    entity_type: str,
    entity_id: str,
    step: str,
    correlation_id: str,
    parent: Parent | None,
    fields: Mapping[str, AttributeValue | None],
    extra: Attributes,
) -> dict[str, AttributeValue]:
    attrs: dict[str, AttributeValue] = dict(extra or {})
    attrs.update(
        {
            CORRELATION_KEY: correlation_id,
            "biz.entity.type": entity_type,
            "biz.entity.id": entity_id,
            "biz.step": step,
        }
    )
    if parent is not None:
        parent_type, parent_id = parent
        attrs["biz.parent.type"] = parent_type
        # A sequence (even of one) stays a string array: fan-in is visible as such.
        attrs["biz.parent.id"] = parent_id if isinstance(parent_id, str) else [str(p) for p in parent_id]
    attrs.update({k: v for k, v in fields.items() if v is not None})
    return attrs


def _as_links(links: Iterable[Link | SpanContext | None]) -> list[Link]:
    out: list[Link] = []
    for link in links:
        if isinstance(link, SpanContext):
            link = Link(link)
        if link is not None and link.context.is_valid:
            out.append(link)
    return out


@contextmanager
def hop(
    entity_type: str,
    entity_id: str,
    step: str,
    *,
    parent: Parent | None = None,
    amount: float | None = None,
    currency: str | None = None,
    correlation_id: str | None = None,
    flow: str | None = None,
    system: str | None = None,
    idempotency_key: str | None = None,
    region: str | None = None,
    legal_entity: str | None = None,
    links: Iterable[Link | SpanContext | None] = (),
    categories: Mapping[type[BaseException], str] | None = None,
    context: Context | None = None,
    tracer: Tracer | None = None,
    name: str | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    start_time: int | None = None,
    end_time: int | None = None,
    attributes: Attributes = None,
) -> Iterator[Hop]:
    """Run the block as one business hop: a span with the ``biz.*`` attributes.

    ``parent`` is ``(type, id)`` or ``(type, [ids])`` for fan-in. The correlation ID and
    flow default to the baggage of ``context`` (default: the current context, e.g. one
    returned by :func:`extract_message`); a new correlation ID is made when there is none.
    An exception escaping the block marks the hop with its outcome (``failed`` unless it
    is a :class:`HopError` naming another) and category (``categories`` mapping by
    class, else the exception's ``category`` attribute, else its snake-cased class name)
    and is re-raised. ``start_time``/``end_time`` are epoch nanoseconds (for backfills).
    """
    parent_ctx = otel_context.get_current() if context is None else context
    correlation = correlation_id or current_correlation_id(parent_ctx) or uuid.uuid4().hex
    flow = flow or (str(baggage.get_baggage(FLOW_KEY, parent_ctx) or "") or None)
    ctx = baggage.set_baggage(CORRELATION_KEY, correlation, parent_ctx)
    if flow:
        ctx = baggage.set_baggage(FLOW_KEY, flow, ctx)
    fields: dict[str, AttributeValue | None] = {
        "biz.flow": flow,
        "biz.system": system,
        "biz.idempotency_key": idempotency_key,
        "biz.region": region,
        "biz.legal_entity": legal_entity,
        "biz.amount": None if amount is None else float(amount),
        "biz.currency": currency.upper() if currency else None,
    }
    attrs = _hop_attributes(entity_type, entity_id, step, correlation, parent, fields, attributes)
    tracer = tracer or trace.get_tracer("ledgerline.instrument")
    span = tracer.start_span(
        name or step,
        context=ctx,
        kind=kind,
        attributes=attrs,
        links=_as_links(links),
        start_time=start_time,
        record_exception=False,
        set_status_on_exception=False,
    )
    current = Hop(span, trace.set_span_in_context(span, ctx), correlation)
    current.end_time = end_time
    token = otel_context.attach(current.context)
    try:
        yield current
    except BaseException as exc:
        if current.outcome is None:  # an explicit mark made before raising wins
            current.mark(*_classify(exc, categories))
        span.record_exception(exc, timestamp=current.end_time)
        raise
    finally:
        otel_context.detach(token)
        current._finish()
