"""Conformance and amount checks over one transaction's per entity/step groups. Pure.

The groups are a lookup's hop rows (lineage/core/fold.py folds the attempts ClickHouse read,
deduplicated through FINAL); these functions only compare a few dozen folded rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any


def duplicates(groups: list[dict[str, Any]], post_step: str) -> list[dict[str, str]]:
    """Duplicate postings: an idempotency key or an entity/step succeeded more than once, or
    one parent received the posting step from more than one entity."""
    groups = live(groups)
    found: list[dict[str, str]] = []
    keys: Counter[str] = Counter()
    key_step: dict[str, str] = {}
    parents: Counter[str] = Counter()
    for g in groups:
        for key in g["idem_keys"]:
            keys[key] += int(g["oks"])
            key_step[key] = g["step"]
        if g["oks"] > 1:
            found.append(_dup("entity", f"{g['entity_type']}:{g['entity_id']}", g["step"], int(g["oks"])))
        if g["step"] == post_step and g["oks"] and g["parent_type"]:
            parents.update(f"{g['parent_type']}:{p}" for p in g["parent_ids"])
    found += [_dup("idempotency key", k, key_step[k], n) for k, n in sorted(keys.items()) if n > 1]
    found += [_dup("parent entity", p, post_step, n) for p, n in sorted(parents.items()) if n > 1]
    return found


def live(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Groups that are neither a compensation nor reversed by one in the same transaction: a
    reversed posting and its reversal are not a duplicate posting, nor an amount to check."""
    reversed_ = {g.get("compensates") for g in groups} - {None, ""}
    return [g for g in groups if not g.get("compensates") and f"{g['entity_type']}:{g['entity_id']}" not in reversed_]


def _dup(what: str, key: str, step: str, n: int) -> dict[str, str]:
    return {"kind": "duplicate_posting", "stage": step, "detail": f"{what} {key} succeeded {n} times at {step}"}


def amount_mismatches(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Successful hops whose amount or currency differs from the first one that carried an amount."""
    priced = sorted((g for g in live(groups) if g["oks"] and g["ok_amount"] is not None), key=lambda g: g["start_ms"])
    if not priced:
        return []
    ref_amount, ref_currency = priced[0]["ok_amount"], priced[0]["ok_currency"]
    return [
        {
            "entity_type": g["entity_type"],
            "entity_id": g["entity_id"],
            "step": g["step"],
            "amount": g["ok_amount"],
            "currency": g["ok_currency"],
            "expected_amount": ref_amount,
            "expected_currency": ref_currency,
        }
        for g in priced[1:]
        if abs(g["ok_amount"] - ref_amount) > 0.005 or g["ok_currency"] != ref_currency
    ]


def exceptions(
    groups: list[dict[str, Any]], actions: dict[str, tuple[str, int]], recoverable: Callable[[str], bool]
) -> list[dict[str, Any]]:
    """Exception rows of one transaction's failing groups; the same rules as the SQL listing:
    resolved by a later success, else by the latest action if it postdates the last failure."""
    out = []
    for g in groups:
        if not g["fails"]:
            continue
        action, at_ms = actions.get(g["exc_id"], ("", 0))
        manual = action if at_ms >= g["fail_start_ms"] else ""
        state = (
            "resolved" if g["auto_resolved"] or manual == "resolve" else ("acknowledged" if manual == "ack" else "open")
        )
        closed = g["ok_end_ms"] if g["auto_resolved"] else (at_ms if state == "resolved" else 0)
        out.append(
            {
                "id": g["exc_id"],
                "entity_type": g["entity_type"],
                "entity_id": g["entity_id"],
                "step": g["step"],
                "correlation_id": g["correlation_id"],
                "system": g["fail_system"],
                "region": g["fail_region"],
                "category": g["error_category"],
                "last_failure": g["fail_outcome"],
                "message": g["fail_message"],
                "first_ms": g["fail_first_ms"],
                "last_ms": g["fail_last_ms"],
                "closed_ms": closed,
                "attempts": g["attempts"],
                "state": state,
                "recoverable": recoverable(g["error_category"]),
            }
        )
    return out
