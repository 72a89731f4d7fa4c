"""What the owning system receives, and one delivery attempt over HTTP.

``Idempotency-Key`` is the replay id on every attempt, so re-sends after a timeout or a
crash are one logical request. ``traceparent`` continues the replay's own trace (one trace
id per replay, a new span id per attempt) and ``baggage`` carries ``correlation.id``, so the
retried hop lands in the same business transaction and can link to the replay.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx
from opentelemetry import baggage, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from lineage.replay.targets import Target

_PROPAGATOR = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
# Answers that mean "try again later"; any other 4xx is the owner refusing the replay.
_RETRYABLE = {408, 425, 429}


def new_trace_id() -> str:
    """A random W3C trace id (32 hex digits) for a new replay."""
    return secrets.token_hex(16)


def payload(row: dict[str, Any], attempt: int) -> dict[str, Any]:
    """The JSON body of one attempt."""
    return {
        "replay_id": row["id"],
        "correlation_id": row["correlation_id"],
        "flow": row["flow"],
        "entity_type": row["entity_type"],
        "entity_id": row["entity_id"],
        "step": row["step"],
        "idempotency_key": row["id"],
        "attempt": attempt,
        "requested_by": row["requested_by"],
        "approved_by": row["approved_by"] or None,
        "reason": row["reason"],
        "exception_id": row["exception_id"],
        "amount": row["amount"],
        "currency": row["currency"] or None,
    }


def headers(row: dict[str, Any], target: Target, span_id: str | None = None) -> dict[str, str]:
    """Target headers (from the environment), then Idempotency-Key, traceparent and baggage."""
    span = SpanContext(
        trace_id=int(row["trace_id"], 16),
        span_id=int(span_id or secrets.token_hex(8), 16),
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    ctx = trace.set_span_in_context(NonRecordingSpan(span), Context())
    ctx = baggage.set_baggage("correlation.id", row["correlation_id"], ctx)
    out = {**target.headers, "Idempotency-Key": row["id"], "Content-Type": "application/json"}
    _PROPAGATOR.inject(out, context=ctx)
    return out


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended: delivered, or an error and whether a retry may help."""

    delivered: bool
    retryable: bool
    error: str = ""


def send(client: httpx.Client, row: dict[str, Any], target: Target, attempt: int) -> Outcome:
    """POST one attempt; never raises for network or HTTP errors."""
    try:
        response = client.post(target.url, json=payload(row, attempt), headers=headers(row, target))
    except httpx.HTTPError as exc:
        return Outcome(False, True, f"{type(exc).__name__}: {exc}"[:500])
    if 200 <= response.status_code < 300:
        return Outcome(True, False)
    retryable = response.status_code >= 500 or response.status_code in _RETRYABLE
    return Outcome(False, retryable, f"HTTP {response.status_code}: {response.text[:300]}")
