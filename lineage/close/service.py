"""The close gate of one legal entity and period, from live lineage.

A transaction belongs to the period of its business date: the issuing hop's (the flow's
posting-latency ``from`` step, e.g. ``invoice.issued``) ``biz.period``, else its
``biz.posting_date``, else the time it ended, cut in the legal entity's time zone (a value that
cannot be read is named in ``malformed_business_dates``). Blocking groups:

* ``not_posted``: issued in the period, not posted to the ledger yet (the waiting queue of the
  flow's posting stage over the period: lineage/business/waiting.py, one definition);
* ``cut_off``: issued in the period, posted after it ended (waiting at the period's end, no
  longer waiting now);
* ``open_exceptions``: exceptions first or last seen in the period and still open, by category
  and recoverability;
* ``replays``: replays of those exceptions awaiting approval or in flight;
* ``reconciliation_breaks``: breaks of the calendar's reconciliations in the period
  (lineage/business/reconcile.py, one definition);
* ``missing_journals``: the batch journals the calendar expects of the entity for the period
  that have not arrived;
* ``unsealed``: hops of the period that no seal covers yet.

A group blocks when its money in some currency is above that currency's materiality (an item
without an amount counts as material), or, for hops and replays without money, when it is not
empty. ``ready``: the period has ended and nothing blocks; ``open``: it has not ended.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from lineage.business.waiting import PeriodWindow, waiting_at_end_and_now, waiting_in_period
from lineage.close import groups, hopset
from lineage.close import queries as q
from lineage.close.config import CloseConfig
from lineage.close.errors import CloseError
from lineage.close.groups import LIMIT
from lineage.close.hopset import LOOK_MS
from lineage.close.periods import Period, period
from lineage.core.currency import total
from lineage.core.scope import NOTHING, Scope
from lineage.core.service import Lineage
from lineage.core.shape import iso
from lineage.core.timeparse import to_ms, utcnow
from lineage.core.window import Window
from lineage.replay.state import IN_FLIGHT

DAY_MS = 86_400_000


def _money(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return groups.money((i.get("amount"), i.get("currency")) for i in items)


def _minus(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``a``'s money less ``b``'s, per currency of ``a``; currencies that net to zero left out."""
    left = {m["currency"]: m["amount"] for m in b}
    nets = ((m["currency"], total([m["amount"], -left.get(m["currency"], 0.0)], m["currency"])) for m in a)
    return [{"currency": currency, "amount": amount} for currency, amount in nets if amount != 0]


def _queues(
    svc: Lineage, scope: Scope, cfg: CloseConfig, tz: str, p: Period, now_ms: int
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Per legal entity in ``scope``: the posting stage's waiting queue of every closing flow,
    summed, over the transactions whose business period is ``p`` (looked for up to LOOK_MS
    either side of it), now and at the period's end. Before the period ends nothing can have
    crossed its cut-off: what waits at its end is what waits now. An entity with nothing waiting
    is absent."""
    now: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    at_end: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for name in cfg.flows:
        flow = svc.config.flows[name]
        posting = next((s for s in flow.stages[1:] if s.step == flow.latency_to), None)
        if posting is None:
            continue
        window = PeriodWindow(p.start_ms - LOOK_MS, p.end_ms + LOOK_MS, now_ms, LIMIT, p.name, tz, posting.name)
        if now_ms >= p.end_ms:
            found_end, found_now = waiting_at_end_and_now(svc.store, svc.config, scope, flow, window, p.end_ms)
        else:
            found_now = found_end = waiting_in_period(svc.store, svc.config, scope, flow, **window._asdict())
        for parts, found in ((now, found_now), (at_end, found_end)):
            for le, doc in found.items():
                parts[le] += [(name, stage) for stage in doc["stages"]]
    return {le: _queue(stages) for le, stages in now.items()}, {le: _queue(stages) for le, stages in at_end.items()}


def _queue(stages: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    count, worth, items, truncated = 0, [], [], False
    for name, stage in stages:
        count += stage["count"]
        worth += [(m["amount"], m["currency"]) for m in stage["amounts"]]
        items += [i | {"flow": name} for i in stage["items"]]
        truncated = truncated or stage["truncated"]
    return {"count": count, "money": groups.money(worth), "items": items[:LIMIT],
            "truncated": truncated or len(items) > LIMIT}  # fmt: skip


def _listed(items: list[dict[str, Any]], truncated: bool) -> dict[str, Any]:
    """A group of listed items: count and money over all, the first LIMIT items."""
    return {
        "count": len(items),
        "money": _money(items),
        "items": items[:LIMIT],
        "truncated": truncated or len(items) > LIMIT,
    }


def _blocks(cfg: CloseConfig, group: dict[str, Any], unknown_amounts: bool = False) -> bool:
    if group["count"] == 0:
        return False
    if not group["money"] or unknown_amounts:
        return True
    return any(cfg.material(m["currency"], m["amount"]) for m in group["money"])


def _period(cfg: CloseConfig, legal_entity: str, period_name: str) -> Period:
    entity = cfg.entities.get(legal_entity)
    if entity is None:
        raise CloseError(f"unknown legal entity {legal_entity!r}; known: {', '.join(sorted(cfg.entities))}")
    try:
        return period(period_name, entity.time_zone, cfg.deadline_business_days)
    except ValueError as exc:
        raise CloseError(str(exc)) from exc


def _unsealed(svc: Lineage, scope: Scope, p: Period, tz: str) -> dict[str, dict[str, Any]]:
    """The period's unsealed hops in ``scope`` (lineage/close/hopset.py), per legal entity."""
    rows = svc.store.query_dicts(q.UNSEALED, scope.params() | hopset.params(p, tz))
    return {r["legal_entity"]: r for r in rows}


@dataclass(frozen=True)
class _Reads:
    """What the gates of the entities sharing a period read together, per legal entity."""

    now: dict[str, dict[str, Any]]  # the posting queue now
    at_end: dict[str, dict[str, Any]]  # ... and at the period's end
    breaks: dict[str, tuple[dict[str, Any], bool]]  # the group, and whether an amount is unknown
    unsealed: dict[str, dict[str, Any]]
    malformed: dict[str, dict[str, Any]]
    exceptions: dict[str, dict[str, Any]]  # the open exceptions of the period
    replays: dict[str, list[dict[str, Any]]]  # ... their replays in flight


def _read(svc: Lineage, cfg: CloseConfig, scope: Scope, p: Period, tz: str, now_ms: int, by_entity: bool) -> _Reads:
    now_q, at_end = _queues(svc, scope, cfg, tz, p, now_ms)
    window = Window(p.start_ms, p.end_ms, 5000)
    if by_entity:
        breaks = groups.reconciliation_breaks_by_entity(svc, cfg, scope, p)
        excs = svc.exceptions_by_legal_entity(scope, window, "open", "", "")
    else:  # one entity: the reconciliations' and exceptions' own readings, scoped to it
        breaks = {le: groups.reconciliation_breaks(svc, cfg, scope, p) for le in scope.legal_entities}
        excs = {le: svc.exceptions(scope, window, "open", "", "") for le in scope.legal_entities}
    malformed = groups.malformed_dates(svc, cfg, scope, tz, p)
    return _Reads(now_q, at_end, breaks, _unsealed(svc, scope, p, tz), malformed, excs, _replays(svc, scope, excs))


def _replays(svc: Lineage, scope: Scope, excs: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per legal entity in ``scope``: the replays of its open exceptions in flight (none: absent)."""
    ids = sorted((le, e["id"]) for le, listed in excs.items() for e in listed["exceptions"])
    if not ids:
        return {}
    params = scope.params() | {"ids": ids, "states": sorted(IN_FLIGHT), "limit": 5000}
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in svc.store.query_dicts(q.REPLAYS_IN_FLIGHT, params):
        found[r.pop("legal_entity")].append(r)
    return found


def gate(svc: Lineage, cfg: CloseConfig, scope: Scope, legal_entity: str, period_name: str) -> dict[str, Any]:
    """The gate of ``legal_entity`` for ``period_name`` (YYYY-MM) as ``scope`` sees it."""
    p = _period(cfg, legal_entity, period_name)
    narrowed = scope.narrowed(legal_entity, "")
    now_ms = to_ms(utcnow())
    reads = _read(svc, cfg, narrowed, p, cfg.entities[legal_entity].time_zone, now_ms, by_entity=False)
    return _gate(svc, cfg, narrowed, legal_entity, p, now_ms, reads)


def gates(svc: Lineage, cfg: CloseConfig, scope: Scope, entities: list[str], period_name: str) -> list[dict[str, Any]]:
    """:func:`gate` of each of ``entities``, in order, with the reads that can be grouped made
    once for all the entities sharing a time zone (hence a period): GROUP BY legal entity in
    SQL, each entity's rows taken apart here, exactly as a caller scoped to it alone reads them.
    ClickHouse cuts time zones by a constant only, so entities in different zones are apart."""
    zones: dict[str, list[str]] = defaultdict(list)
    for le in entities:
        _period(cfg, le, period_name)  # an unknown entity or a bad period: the error gate() gives
        zones[cfg.entities[le].time_zone].append(le)
    now_ms = to_ms(utcnow())
    out: dict[str, dict[str, Any]] = {}
    for tz, les in zones.items():
        p = _period(cfg, les[0], period_name)
        # The entities of the zone the caller reaches, as scope.narrowed() limits each one.
        shared = Scope(tuple(sorted(le for le in les if reaches(scope, le))) or (NOTHING,), scope.regions)
        reads = _read(svc, cfg, shared, p, tz, now_ms, by_entity=True)
        for le in les:
            out[le] = _gate(svc, cfg, scope.narrowed(le, ""), le, p, now_ms, reads)
    return [out[le] for le in entities]


def _nothing_waits() -> dict[str, Any]:
    return {"count": 0, "money": [], "items": [], "truncated": False}


def _gate(
    svc: Lineage, cfg: CloseConfig, narrowed: Scope, legal_entity: str, p: Period, now_ms: int, reads: _Reads
) -> dict[str, Any]:
    """The gate of one entity, ``narrowed`` to it, from the reads made for it or for its zone
    (a scope that does not reach the entity has no rows of it)."""
    entity = cfg.entities[legal_entity]
    mine = narrowed.legal_entities != (NOTHING,)
    now_q = (reads.now.get(legal_entity) if mine else None) or _nothing_waits()
    at_end = (reads.at_end.get(legal_entity) if mine else None) or _nothing_waits()
    unsealed_row = reads.unsealed.get(legal_entity) if mine else None
    breaks, breaks_unknown = (reads.breaks.get(legal_entity) if mine else None) or (_listed([], False), False)
    posted_since = {i["business_key"] for i in now_q["items"]}
    cut_off = {
        "count": at_end["count"] - now_q["count"],
        "money": _minus(at_end["money"], now_q["money"]),
        "items": [i for i in at_end["items"] if i["business_key"] not in posted_since],
        "truncated": at_end["truncated"] or now_q["truncated"],
    }
    listed = (reads.exceptions.get(legal_entity) if mine else None) or {"exceptions": [], "truncated": False}
    excs = listed["exceptions"]  # with the amount of each exception's entity
    by_kind: dict[tuple[str | None, bool], list[dict[str, Any]]] = defaultdict(list)
    for e in excs:
        by_kind[(e["category"], e["recoverable"])].append(e)
    exceptions = {
        "count": len(excs),
        "money": _money(excs),
        "by_category": [
            {"category": c, "recoverable": r, "count": len(v), "money": _money(v)}
            for (c, r), v in sorted(by_kind.items(), key=lambda kv: (kv[0][0] or "", kv[0][1]))
        ],
        "items": excs[:LIMIT],
        "truncated": bool(listed["truncated"]) or len(excs) > LIMIT,
    }
    replays = (reads.replays.get(legal_entity) if mine else None) or []
    replay_group = {"count": len(replays), "money": _money(replays), "items": replays[:LIMIT],
                    "truncated": len(replays) > LIMIT or bool(listed["truncated"])}  # fmt: skip
    n = int(unsealed_row["n"]) if unsealed_row else 0
    unsealed = {"count": n, "money": [], "items": [], "truncated": False,
                "oldest": iso(int(unsealed_row["oldest_ms"])) if unsealed_row and n else None}  # fmt: skip
    journals = groups.missing_journals(svc, cfg, narrowed, legal_entity, p)
    found = {
        "not_posted": now_q,
        "cut_off": cut_off,
        "open_exceptions": exceptions,
        "replays": replay_group,
        "reconciliation_breaks": breaks,
        "missing_journals": _listed(journals, False),
        "unsealed": unsealed,
    }
    unknown = {
        "not_posted": any(i["amount"] is None for i in now_q["items"]),
        "cut_off": any(i["amount"] is None for i in cut_off["items"]),
        "open_exceptions": any(e["amount"] is None for e in excs),
        "reconciliation_breaks": breaks_unknown,
        "missing_journals": any(j["amount"] is None for j in journals),
    }
    blocking = [name for name, g in found.items() if _blocks(cfg, g, unknown.get(name, False))]
    for name, g in found.items():
        g["blocking"] = name in blocking
    status = "open" if now_ms < p.end_ms else "blocked" if blocking else "ready"
    return {
        "legal_entity": legal_entity,
        "period": p.name,
        "time_zone": entity.time_zone,
        "start": iso(p.start_ms),
        "end": iso(p.end_ms),
        "deadline": iso(p.deadline_ms),
        "days_to_deadline": -(-(p.deadline_ms - now_ms) // DAY_MS),
        "status": status,
        "blocking": blocking,
        "groups": found,
        "malformed_business_dates": (reads.malformed.get(legal_entity) if mine else None)
        or groups.no_malformed_dates(),
    }


def reaches(scope: Scope, legal_entity: str) -> bool:
    """True when the caller's scope includes the legal entity (a region-scoped caller sees every
    entity, computed from its regions' hops)."""
    return not scope.legal_entities or legal_entity in scope.legal_entities
