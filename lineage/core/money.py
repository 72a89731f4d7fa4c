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
    return _with_amounts(exceptions, found)


def of_exceptions_by_legal_entity(
    store: Store, scope: Scope, exceptions: dict[str, list[dict[str, Any]]]
) -> dict[str, list[dict[str, Any]]]:
    """:func:`of_exceptions` of each legal entity's exceptions with ``scope`` narrowed to it (as a
    caller scoped to it alone reads them), one query for those it narrows to themselves alone."""
    alone = {le: excs for le, excs in exceptions.items() if excs and scope.narrowed(le, "").legal_entities == (le,)}
    for le, excs in exceptions.items():
        if le not in alone:  # no legal entity, or one outside the scope: its own reading
            of_exceptions(store, scope.narrowed(le, ""), excs)
    if not alone:
        return exceptions
    every = [e for excs in alone.values() for e in excs]
    params = {
        "ids": sorted({e["correlation_id"] for e in every}),
        "le_ids": sorted({(le, e["correlation_id"]) for le, excs in alone.items() for e in excs}),
        "ents": sorted({(le, e["entity_type"], e["entity_id"]) for le, excs in alone.items() for e in excs}),
        "limit": len(every),
        **scope.params(),
    }
    found: dict[str, dict[tuple[str, str], dict[str, Any]]] = {le: {} for le in alone}
    for r in store.query_dicts(amounts.ENTITY_AMOUNTS_BY_LEGAL_ENTITY, params):
        found[r["legal_entity"]][(r["entity_type"], r["entity_id"])] = r
    for le, excs in alone.items():
        _with_amounts(excs, found[le])
    return exceptions


def _with_amounts(
    exceptions: list[dict[str, Any]], found: dict[tuple[str, str], dict[str, Any]]
) -> list[dict[str, Any]]:
    for e in exceptions:
        row = found.get((e["entity_type"], e["entity_id"]))
        e["amount"] = _known(row["amount"]) if row else None
        e["currency"] = (row["currency"] or None) if row and e["amount"] is not None else None
    return exceptions
