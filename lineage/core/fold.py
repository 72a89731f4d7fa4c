"""One transaction's attempts folded into hops: one row per (entity type, entity id, step),
retries folded into ``attempt_list``, with the per-group facts status derivation, the checks
and the exceptions read (lineage/core/derive.py, checks.py). Pure.

This is the one definition of a lookup's hop rows: ClickHouse returns the raw attempts of one
correlation ID (lineage/sql/queries.py ATTEMPTS, a flat read it plans several times faster
than some forty aggregates) and this module folds them.

Rules, where a group's attempts disagree:

- "latest" is the attempt with the greatest ``(start, trace ID, span ID)``: the latest start,
  ties in the start time (to the nanosecond) broken by the greater trace ID, then span ID
  (ClickHouse's ``argMax`` left such a tie to the order it read the rows in);
- a value "if any" (error category, amount, currency, and each ``fail_*``/``ok_*`` value) is
  that of the latest attempt carrying one: an empty string or a missing amount when none does;
- flow, parent type and compensated entity are those of the earliest attempt that names one;
- times with no attempt to take them from are 0 (``ok_ms`` of a group that never succeeded);
- ``attempt_list`` is in start order (ties as above); the sets (parent IDs, idempotency keys,
  links) are sorted.

Groups come in the order of their first start (epoch ms), then entity type, entity id and step.
"""

from __future__ import annotations

from typing import Any, NamedTuple

_NS_PER_MS = 1_000_000
# Outcomes that are neither a success nor a failure (a reversal of another entity's posting).
_NOT_FAILURES = ("ok", "compensated")


class Attempt(NamedTuple):
    """One stored hop span: a row of the ATTEMPTS query, in its column order."""

    entity_type: str
    entity_id: str
    step: str
    system: str
    outcome: str
    error_category: str
    start_ns: int
    end_ns: int
    trace_id: str
    span_id: str
    flow: str
    amount: float | None
    currency: str
    parent_type: str
    parent_ids: list[str]
    compensates: str
    exc_id: str
    region: str
    message: str
    idempotency_key: str
    link_trace_ids: list[str]
    link_span_ids: list[str]


class AttemptRow(NamedTuple):
    """One element of a hop row's ``attempt_list`` (the tuple :func:`fold_group` builds, in its order)."""

    outcome: str
    error_category: str
    start_ms: int
    end_ms: int
    trace_id: str
    span_id: str


def _ms(ns: int) -> int:
    return ns // _NS_PER_MS


def _latest(attempts: list[Attempt]) -> Attempt | None:
    return attempts[-1] if attempts else None


def _first_named(values: list[str]) -> str:
    return next((v for v in values if v), "")


def fold_group(cid: str, attempts: list[Attempt]) -> dict[str, Any]:
    """One hop row from the attempts of one (entity type, entity id, step), in any order."""
    attempts = sorted(attempts, key=lambda a: (a.start_ns, a.trace_id, a.span_id))
    last = attempts[-1]
    oks = [a for a in attempts if a.outcome == "ok"]
    not_ok = [a for a in attempts if a.outcome != "ok"]
    fails = [a for a in attempts if a.outcome not in _NOT_FAILURES]
    categorized = _latest([a for a in attempts if a.error_category])
    priced = _latest([a for a in attempts if a.amount is not None])
    with_currency = _latest([a for a in attempts if a.currency])
    last_fail, last_ok = _latest(not_ok), _latest(oks)
    ok_priced = _latest([a for a in oks if a.amount is not None])
    max_ok_start = max((a.start_ns for a in oks), default=0)
    max_not_ok_start = max((a.start_ns for a in not_ok), default=0)
    return {
        "entity_type": last.entity_type,
        "entity_id": last.entity_id,
        "step": last.step,
        "system": last.system,
        "outcome": last.outcome,
        "start_ms": _ms(min(a.start_ns for a in attempts)),
        "end_ms": _ms(max(a.end_ns for a in attempts)),
        "attempts": len({(a.trace_id, a.span_id) for a in attempts}),
        "trace_id": last.trace_id,
        "span_id": last.span_id,
        "correlation_id": cid,
        "flow": _first_named([a.flow for a in attempts]),
        "error_category": categorized.error_category if categorized else "",
        "amount": priced.amount if priced else None,
        "currency": with_currency.currency if with_currency else "",
        "parent_type": _first_named([a.parent_type for a in attempts]),
        "parent_ids": sorted({p for a in attempts for p in a.parent_ids}),
        "oks": len(oks),
        "fails": len(fails),
        "ok_ms": _ms(min((a.end_ns for a in oks), default=0)),
        "compensates": _first_named([a.compensates for a in attempts]),
        "auto_resolved": int(max_ok_start > max_not_ok_start),
        "exc_id": last.exc_id,
        "fail_first_ms": _ms(min((a.start_ns for a in not_ok), default=0)),
        "fail_last_ms": _ms(max((a.end_ns for a in not_ok), default=0)),
        "fail_start_ms": _ms(max_not_ok_start),
        "fail_outcome": last_fail.outcome if last_fail else "",
        "fail_system": last_fail.system if last_fail else "",
        "fail_region": last_fail.region if last_fail else "",
        "fail_message": last_fail.message if last_fail else "",
        "ok_end_ms": _ms(last_ok.end_ns) if last_ok else 0,
        "idem_keys": sorted({a.idempotency_key for a in oks if a.idempotency_key}),
        "links": sorted({link for a in attempts for link in zip(a.link_trace_ids, a.link_span_ids, strict=False)}),
        "ok_amount": ok_priced.amount if ok_priced else None,
        "ok_currency": ok_priced.currency if ok_priced else "",
        "attempt_list": [
            AttemptRow(a.outcome, a.error_category, _ms(a.start_ns), _ms(a.end_ns), a.trace_id, a.span_id)
            for a in attempts
        ],
    }


def group_keys(attempts: list[Attempt]) -> dict[tuple[str, str, str], list[Attempt]]:
    """The attempts of each (entity type, entity id, step)."""
    groups: dict[tuple[str, str, str], list[Attempt]] = {}
    for a in attempts:
        groups.setdefault((a.entity_type, a.entity_id, a.step), []).append(a)
    return groups


def fold(cid: str, rows: list[tuple[Any, ...]], limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` hop rows of one correlation ID from its attempts (ATTEMPTS rows)."""
    hops = [fold_group(cid, group) for group in group_keys([Attempt._make(r) for r in rows]).values()]
    hops.sort(key=lambda h: (h["start_ms"], h["entity_type"], h["entity_id"], h["step"]))
    return hops[:limit]
