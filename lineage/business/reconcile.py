"""Domain: reconciliation drift between two steps in different systems (billing's invoices
against the ERP's postings, billing's payments against the CRM's), computed in ClickHouse
from the stored hops (lineage/business/queries.py), bounded by the window.

Each side is one row per entity: its last amount of the step (a retried or duplicated
success counts once), net of compensations (``biz.compensates``: a compensation with an
amount reverses that much, one without reverses the whole entity). The right side is summed
per key (a reversed posting and its re-posting net to one amount; two live postings of one
invoice double it, which is a break). A pair is:

- ``matched``: both sides, same currency, amounts within the tolerance;
- ``compensated``: one side only, reversed to zero (a cancelled invoice never posted);
- ``left_only`` / ``right_only``: one side only (an invoice not posted, a posting of no invoice);
- ``amount_mismatch`` / ``currency_mismatch``: both sides, disagreeing.

A pair belongs to the bucket of its left side's time, else its right side's; each side is
looked up to 7 days either side of the window, so a posting the day after an invoice matches it.
"""

from __future__ import annotations

from typing import Any

from collector.store import Bounded, Store
from lineage.business import queries as q
from lineage.core.currency import round_money
from lineage.core.flows import FlowConfig, Reconciliation
from lineage.core.scope import Scope
from lineage.core.shape import iso

BREAK_KINDS = ("left_only", "right_only", "amount_mismatch", "currency_mismatch")


def describe(rec: Reconciliation) -> dict[str, Any]:
    """A reconciliation as declared in the flows file."""
    return {
        "name": rec.name,
        "description": rec.description or None,
        "left": {"step": rec.left.step, "entity_type": rec.left.entity_type, "system": rec.left.system or None},
        "right": {"step": rec.right.step, "entity_type": rec.right.entity_type, "system": rec.right.system or None},
        "match": rec.match,
        "tolerance": rec.tolerance,
    }


def _params(rec: Reconciliation, scope: Scope, since_ms: int, until_ms: int) -> dict[str, Any]:
    return {
        "left_step": rec.left.step,
        "left_type": rec.left.entity_type,
        "left_system": rec.left.system,
        "right_step": rec.right.step,
        "right_type": rec.right.entity_type,
        "right_system": rec.right.system,
        "tolerance": rec.tolerance,
        "since_ms": since_ms,
        "until_ms": until_ms,
        "split_le": 0,
    } | scope.params()


def summary(
    store: Store,
    config: FlowConfig,
    scope: Scope,
    rec: Reconciliation,
    *,
    since_ms: int,
    until_ms: int,
    bucket_ms: int,
    by_legal_entity: bool,
    limit: int,
) -> dict[str, Any]:
    """Per bucket, legal entity and currency: both sides, matched, and the breaks with totals."""
    params = _params(rec, scope, since_ms, until_ms) | {
        "bucket_ms": bucket_ms,
        "by_legal_entity": int(by_legal_entity),
    }
    page = store.query_bounded(q.RECONCILE_SUMMARY[rec.match], params, limit)
    out = []
    for r in page.rows:
        breaks = {k: int(r[f"s_{k}"]) for k in BREAK_KINDS}
        out.append(
            {
                "bucket": iso(int(r["bucket_ms"])),
                "legal_entity": (r["grp"] or None) if by_legal_entity else None,
                "currency": r["currency"] or None,
                "left": {"count": int(r["s_left_count"]), "amount": round_money(r["s_left_amount"], r["currency"])},
                "right": {"count": int(r["s_right_count"]), "amount": round_money(r["s_right_amount"], r["currency"])},
                "matched": int(r["s_matched"]),
                "compensated": int(r["s_compensated"]),
                "breaks": breaks,
                "break_count": sum(breaks.values()),
                "break_amounts": {
                    "left_only": round_money(r["s_left_only_amount"], r["currency"]),
                    "right_only": round_money(r["s_right_only_amount"], r["currency"]),
                    "amount_difference": round_money(r["s_amount_difference"], r["currency"]),
                },
            }
        )
    return {
        **describe(rec),
        "since": iso(since_ms),
        "until": iso(until_ms),
        "bucket_ms": bucket_ms,
        "group_by": "legal_entity" if by_legal_entity else None,
        "buckets": out,
        "truncated": page.truncated,
    }


def breaks(
    store: Store,
    config: FlowConfig,
    scope: Scope,
    rec: Reconciliation,
    *,
    since_ms: int,
    until_ms: int,
    kind: str,
    limit: int,
) -> dict[str, Any]:
    """The breaks themselves, oldest first, each with the correlation IDs that open its lineage."""
    page = break_rows(store, scope, rec, since_ms=since_ms, until_ms=until_ms, kind=kind, limit=limit)
    return {
        "name": rec.name,
        "since": iso(since_ms),
        "until": iso(until_ms),
        "breaks": [shape_break(r) for r in page.rows],
        "truncated": page.truncated,
    }


def break_rows(
    store: Store, scope: Scope, rec: Reconciliation, *, since_ms: int, until_ms: int, limit: int, kind: str = ""
) -> Bounded:
    """The oldest ``limit`` break rows as stored (of ``kind``, '' for every kind), and whether
    there were more: :func:`shape_break` makes one a break."""
    params = _params(rec, scope, since_ms, until_ms) | {"kind": kind}
    return store.query_bounded(q.RECONCILE_BREAKS[rec.match], params, limit)


def break_rows_by_legal_entity(
    store: Store,
    scope: Scope,
    rec: Reconciliation,
    *,
    since_ms: int,
    until_ms: int,
    limit: int,
) -> dict[str, tuple[list[dict[str, Any]], bool]]:
    """Every legal entity's breaks in one pass, each entity matched apart (exactly what
    :func:`breaks` gives a caller scoped to that entity alone): its oldest ``limit`` break rows
    as stored (:func:`shape_break` makes one a break) and whether there were more."""
    params = _params(rec, scope, since_ms, until_ms) | {"kind": "", "split_le": 1, "limit": limit + 1}
    found: dict[str, list[dict[str, Any]]] = {}
    for r in store.query_dicts(q.RECONCILE_BREAKS[rec.match], params):
        found.setdefault(r["legal_entity"], []).append(r)
    return {le: (rows[:limit], len(rows) > limit) for le, rows in found.items()}


def sides(r: dict[str, Any]) -> tuple[str, float | None, float | None, str | None, str | None]:
    """A break row's kind, left and right amount (None for a side with no entity) and currencies:
    what a break is worth is read from these alone."""
    return (
        r["status"],
        r["left_amount"] if r["left_entity"] else None,
        r["right_amount"] if r["right_entities"] else None,
        r["left_currency"] or None,
        r["right_currency"] or None,
    )


def shape_break(r: dict[str, Any]) -> dict[str, Any]:
    """A break row as the API shows it."""
    kind, left_amount, right_amount, left_currency, right_currency = sides(r)
    return {
        "key": r["key"],
        "kind": kind,
        "at": iso(int(r["at_ms"])),
        "legal_entity": r["legal_entity"] or None,
        "left_entity": r["left_entity"] or None,
        "right_entities": list(r["right_entities"]),
        "left_amount": left_amount,
        "right_amount": right_amount,
        "left_currency": left_currency,
        "right_currency": right_currency,
        "compensated": bool(r["compensated"]),
        "correlation_ids": sorted({c for c in (r["left_cid"], r["right_cid"]) if c}),
    }
