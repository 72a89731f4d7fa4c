"""Shaping of query rows and verdicts into API documents. Pure."""

from __future__ import annotations

from typing import Any

from lineage.core.derive import StageVerdict, TxnFacts, Verdict
from lineage.core.fold import AttemptRow
from lineage.core.timeparse import from_ms, to_ms, utcnow


def iso(ms: int | None) -> str | None:
    """Epoch ms as ISO-8601 UTC with a Z; None stays None."""
    value = from_ms(ms)
    return None if value is None else value.isoformat().replace("+00:00", "Z")


EDGE_KEYS = ("parent_type", "parent_id", "child_type", "child_id")


def own_keys(hops: list[dict[str, Any]]) -> dict[str, list[tuple[str, str]]]:
    """Stitching keys of a transaction from its hop rows (no extra query)."""
    ents = sorted({(h["entity_type"], h["entity_id"]) for h in hops})
    parents = sorted({(h["parent_type"], p) for h in hops if h["parent_type"] for p in h["parent_ids"]})
    spans = sorted({(a.trace_id, a.span_id) for h in hops for a in map(AttemptRow._make, h["attempt_list"])})
    links = sorted({tuple(link) for h in hops for link in h["links"]})
    return {"ents": ents, "parents": parents, "spans": spans, "links": links}


def hop(h: dict[str, Any]) -> dict[str, Any]:
    return {
        "entity_type": h["entity_type"],
        "entity_id": h["entity_id"],
        "step": h["step"],
        "system": h["system"],
        "outcome": h["outcome"],
        "start_time": iso(h["start_ms"]),
        "end_time": iso(h["end_ms"]),
        "duration_ms": int(h["end_ms"]) - int(h["start_ms"]),
        "attempts": int(h["attempts"]),
        "trace_id": h["trace_id"],
        "span_id": h["span_id"],
        "correlation_id": h["correlation_id"],
        "error_category": h["error_category"] or None,
        "amount": h["amount"],
        "currency": h["currency"] or None,
        "compensates": h.get("compensates") or None,
        "attempt_list": [
            {
                "outcome": a.outcome,
                "error_category": a.error_category or None,
                "start_time": iso(a.start_ms),
                "end_time": iso(a.end_ms),
                "trace_id": a.trace_id,
                "span_id": a.span_id,
            }
            for a in map(AttemptRow._make, h["attempt_list"])
        ],
    }


def link_compensations(hops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Put each compensation next to what it reverses: ``compensated_by`` on the reversed
    entity's hops lists the compensating hops (entity and step) of the same answer."""
    by_target: dict[str, list[str]] = {}
    for h in hops:
        if h.get("compensates"):
            by_target.setdefault(h["compensates"], []).append(f"{h['entity_type']}:{h['entity_id']} {h['step']}")
    for h in hops:
        h["compensated_by"] = by_target.get(f"{h['entity_type']}:{h['entity_id']}", []) if not h["compensates"] else []
    return hops


def nodes(hops: list[dict[str, Any]], edges: list[dict[str, Any]]) -> list[dict[str, str]]:
    keys = {(h["entity_type"], h["entity_id"]) for h in hops}
    for e in edges:
        keys |= {(e["parent_type"], e["parent_id"]), (e["child_type"], e["child_id"])}
    return [{"entity_type": t, "entity_id": i} for t, i in sorted(keys)]


def sla(verdict: Verdict) -> dict[str, Any]:
    return {
        "breached": verdict.breached,
        "end_to_end": {
            "sla_ms": verdict.end_to_end_sla_ms,
            "elapsed_ms": verdict.end_to_end_ms,
            "breached": verdict.end_to_end_breached,
        },
        "stages": [
            {
                "stage": s.stage,
                "entity_type": s.entity_type,
                "step": s.step,
                "state": s.state,
                "required": s.required,
                "sla_ms": s.sla_ms,
                "started_at": iso(s.started_ms),
                "completed_at": iso(s.completed_ms),
                "duration_ms": s.duration_ms,
                "breached": s.breached,
                "due_at": iso(s.due_ms),
                "time_left_ms": s.time_left_ms,
            }
            for s in verdict.stages
        ],
    }


def exception(r: dict[str, Any]) -> dict[str, Any]:
    now_ms = to_ms(utcnow())
    return {
        "id": r["id"],
        "entity_type": r["entity_type"],
        "entity_id": r["entity_id"],
        "business_key": f"{r['entity_type']}:{r['entity_id']}",
        "step": r["step"],
        "correlation_id": r["correlation_id"],
        "system": r["system"],
        "region": r["region"] or None,
        "category": r["category"] or None,
        "recoverable": bool(r["recoverable"]),
        "last_outcome": r["last_failure"],
        "message": r["message"] or None,
        "state": r["state"],
        "first_seen": iso(r["first_ms"]),
        "last_seen": iso(r["last_ms"]),
        "resolved_at": iso(r["closed_ms"]) if r["closed_ms"] else None,
        "attempts": int(r["attempts"]),
        "age_ms": now_ms - int(r["first_ms"]),
    }


def breach(facts: TxnFacts, s: StageVerdict) -> dict[str, Any]:
    """A breached stage: done late, or open and overdue."""
    late = s.state == "done"
    due = s.due_ms or 0
    return {
        "correlation_id": facts.correlation_id,
        "flow": facts.flow,
        "stage": s.stage,
        "kind": "late_complete" if late else "open_overdue",
        "sla_ms": s.sla_ms,
        "due_at": iso(s.due_ms),
        "completed_at": iso(s.completed_ms),
        "duration_ms": s.duration_ms,
        "overdue_ms": ((s.completed_ms or 0) - due) if late else -(s.time_left_ms or 0),
    }


def e2e_breach(facts: TxnFacts, v: Verdict) -> dict[str, Any]:
    """The end-to-end SLA of a transaction, breached."""
    sla = v.end_to_end_sla_ms or 0
    return {
        "correlation_id": facts.correlation_id,
        "flow": facts.flow,
        "stage": "end_to_end",
        "kind": "end_to_end",
        "sla_ms": sla,
        "due_at": iso(facts.started_ms + sla),
        "completed_at": iso(v.completed_ms),
        "duration_ms": v.end_to_end_ms,
        "overdue_ms": (v.end_to_end_ms or 0) - sla,
    }
