"""The money behind a transaction or an exception: its amount and currency, from its latest hop
that carries one (in scope), read by correlation ID. One definition for the listings, the lookups,
SLA breaches and money at risk; None when no hop carried an amount ("amount unknown")."""

from __future__ import annotations

from typing import Any

from collector.store import Store
from lineage.core.scope import Scope
from lineage.sql import amounts


def _known(value: Any) -> float | None:
    return None if value is None or value != value else float(value)  # NaN: none


def of_transactions(store: Store, scope: Scope, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Per correlation ID: business key (its first entity), amount, currency, and the system and
    region of its latest hop. One query for the lot."""
    if not ids:
        return {}
    rows = store.query_dicts(amounts.TRANSACTION_AMOUNTS, {"ids": ids, "limit": len(ids), **scope.params()})
    out = {}
    for r in rows:
        amount = _known(r["amount"])
        out[str(r["correlation_id"])] = r | {
            "amount": amount,
            "currency": (r["currency"] or None) if amount is not None else None,
        }
    return out


def of_exceptions(store: Store, scope: Scope, exceptions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The exceptions with the amount and currency of their entity (set in place). One query."""
    if not exceptions:
        return exceptions
    params = {
        "ids": sorted({e["correlation_id"] for e in exceptions}),
        "ents": sorted({(e["entity_type"], e["entity_id"]) for e in exceptions}),
        "limit": len(exceptions),
        **scope.params(),
    }
    found = {(r["entity_type"], r["entity_id"]): r for r in store.query_dicts(amounts.ENTITY_AMOUNTS, params)}
    for e in exceptions:
        row = found.get((e["entity_type"], e["entity_id"]))
        e["amount"] = _known(row["amount"]) if row else None
        e["currency"] = (row["currency"] or None) if row and e["amount"] is not None else None
    return exceptions
