"""Blocking groups of the close gate read from definitions that live elsewhere: the
reconciliation breaks of the period (lineage/business/reconcile.py, one definition), the
expected batch journals that have not arrived (the close calendar's ``expected_journals``),
and the hops whose business date the gate could not read (named, never dropped)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any

from lineage.business import reconcile
from lineage.close import queries as q
from lineage.close.config import CloseConfig
from lineage.close.hopset import LOOK_MS
from lineage.close.periods import Period, parse_period
from lineage.core.currency import round_money, total
from lineage.core.scope import Scope
from lineage.core.service import Lineage
from lineage.core.shape import iso

LIMIT = 100  # items listed per group (counts and money cover all)
READ = 5000  # breaks read per reconciliation to count and sum them


def money(worth: Iterable[tuple[float | None, str | None]]) -> list[dict[str, Any]]:
    """Money per currency of (amount, currency) pairs, in currency order; unknown amounts left out."""
    by: dict[str | None, list[float]] = defaultdict(list)
    for amount, currency in worth:
        if amount is not None:
            by[currency].append(float(amount))
    return sorted(({"currency": c, "amount": total(a, c)} for c, a in by.items()), key=lambda m: m["currency"] or "")


def _break_money(
    kind: str,
    left_amount: float | None,
    right_amount: float | None,
    left_currency: str | None,
    right_currency: str | None,
) -> tuple[float | None, str | None]:
    """What a break is worth (from reconcile.sides): the side that is alone, or the difference (a
    currency mismatch has no single amount: it counts as material)."""
    if kind == "left_only":
        return left_amount, left_currency
    if kind == "right_only":
        return right_amount, right_currency
    if kind == "amount_mismatch":
        return round_money(abs((right_amount or 0.0) - (left_amount or 0.0)), left_currency), left_currency
    return None, left_currency


Found = list[tuple[str, list[dict[str, Any]], bool]]  # per reconciliation: its name, break rows, more


def _group(found: Found) -> tuple[dict[str, Any], bool]:
    """The gate's group of the breaks of some reconciliations (their stored rows): count and money
    over every break read, the first LIMIT as items; and whether a break's amount is unknown. Only
    the items listed are shaped: a month of breaks is counted without building each one."""
    count, worth, items, truncated = 0, [], [], False
    for name, rows, more in found:
        truncated = truncated or more
        for r in rows:
            worth.append(_break_money(*reconcile.sides(r)))
            if count < LIMIT:
                items.append(_break_item(name, reconcile.shape_break(r), *worth[-1]))
            count += 1
    group = {"count": count, "money": money(worth), "items": items, "truncated": truncated or count > LIMIT}
    return group, any(amount is None for amount, _ in worth)


def reconciliation_breaks(svc: Lineage, cfg: CloseConfig, scope: Scope, p: Period) -> tuple[dict[str, Any], bool]:
    """Every break of the calendar's reconciliations whose pair belongs to the period (by its
    left side's time, else its right side's), with its money and the transactions behind it, as
    the gate's group (:func:`_group`)."""
    found: Found = []
    for name in cfg.reconciliations:
        rec = svc.config.reconciliations[name]
        page = reconcile.break_rows(svc.store, scope, rec, since_ms=p.start_ms, until_ms=p.end_ms, limit=READ)
        found.append((name, page.rows, page.truncated))
    return _group(found)


def reconciliation_breaks_by_entity(
    svc: Lineage, cfg: CloseConfig, scope: Scope, p: Period
) -> dict[str, tuple[dict[str, Any], bool]]:
    """:func:`reconciliation_breaks` of every legal entity in ``scope`` whose period is ``p``,
    one pass per reconciliation (each entity matched apart, as if scoped to it alone)."""
    by_entity: dict[str, Found] = defaultdict(list)
    for name in cfg.reconciliations:
        rec = svc.config.reconciliations[name]
        found = reconcile.break_rows_by_legal_entity(svc.store, scope, rec, since_ms=p.start_ms, until_ms=p.end_ms,
                                                     limit=READ)  # fmt: skip
        for le, (rows, more) in found.items():
            by_entity[le].append((name, rows, more))
    return {le: _group(found) for le, found in by_entity.items()}


def _break_item(name: str, b: dict[str, Any], amount: float | None, currency: str | None) -> dict[str, Any]:
    """A listed break (``b``: reconcile.shape_break) with what it is worth (:func:`_break_money`)."""
    cids = b["correlation_ids"]
    return {
        "reconciliation": name,
        "kind": b["kind"],
        "business_key": b["left_entity"] or (b["right_entities"] or [b["key"]])[0],
        "amount": amount,
        "currency": currency,
        "at": b["at"],
        "correlation_id": cids[0] if cids else None,
        "correlation_ids": cids,
    }


def missing_journals(
    svc: Lineage, cfg: CloseConfig, scope: Scope, legal_entity: str, p: Period
) -> list[dict[str, Any]]:
    """The batch journals the calendar expects of the entity for the period with no ok hop yet."""
    expected = {j.name: (j, eid) for j in cfg.journals if (eid := j.expected(legal_entity, p.name)) is not None}
    if not expected:
        return []
    params = scope.params() | {
        "keys": sorted({(j.entity_type, j.step, eid) for j, eid in expected.values()}),
        "ids": sorted({eid for _, eid in expected.values()}),
    }
    arrived = {(r["entity_type"], r["step"], r["entity_id"]) for r in svc.store.query_dicts(q.JOURNALS_ARRIVED, params)}
    currency = cfg.entities[legal_entity].currency
    return [
        {
            "journal": name,
            "business_key": f"{j.entity_type}:{eid}",
            "entity_type": j.entity_type,
            "entity_id": eid,
            "step": j.step,
            "amount": j.amount,
            "currency": currency,
            "correlation_id": None,  # it has not arrived: nothing to open yet
        }
        for name, (j, eid) in sorted(expected.items())
        if (j.entity_type, j.step, eid) not in arrived
    ]


def malformed_dates(svc: Lineage, cfg: CloseConfig, scope: Scope, tz: str, p: Period) -> dict[str, dict[str, Any]]:
    """Per legal entity in ``scope``: hops of the closing steps counted in the period by their hop
    time because their ``biz.posting_date`` / ``biz.period`` could not be read, each naming the
    value and why (an entity with none is absent)."""
    steps = sorted({s for n in cfg.flows for s in (svc.config.flows[n].latency_from, svc.config.flows[n].latency_to)})
    params = scope.params() | {
        "steps": steps,
        "since_ms": p.start_ms - LOOK_MS,
        "until_ms": p.end_ms + LOOK_MS,
        "period": p.name,
        "tz": tz,
        "limit": LIMIT + 1,
    }
    found: dict[str, list[dict[str, Any]]] = {}
    for r in svc.store.query_dicts(q.MALFORMED_DATES, params):
        found.setdefault(r["legal_entity"], []).append(r)
    return {le: _malformed(rows[:LIMIT], len(rows) > LIMIT) for le, rows in found.items()}


def no_malformed_dates() -> dict[str, Any]:
    """What :func:`malformed_dates` means for an entity it does not name."""
    return _malformed([], False)


def _malformed(rows: list[dict[str, Any]], truncated: bool) -> dict[str, Any]:
    items = []
    for r in rows:
        problems = []
        if r["posting_date"] and not _is_date(r["posting_date"]):
            problems.append(f"biz.posting_date {r['posting_date']!r} is not a date (YYYY-MM-DD)")
        if r["biz_period"] and not _is_period(r["biz_period"]):
            problems.append(f"biz.period {r['biz_period']!r} is not a period (YYYY-MM)")
        items.append({
            "business_key": f"{r['entity_type']}:{r['entity_id']}",
            "step": r["step"],
            "correlation_id": r["correlation_id"],
            "at": iso(int(r["at_ms"])),
            "problems": problems,
        })  # fmt: skip
    return {"count": len(items), "items": items, "truncated": truncated}


def _is_date(text: str) -> bool:
    try:
        return date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False


def _is_period(text: str) -> bool:
    try:
        parse_period(text)
    except ValueError:
        return False
    return text == text.strip()
