"""Domain: waiting queues of a flow ("orders awaiting billing", "invoices not posted to the
ERP", "payments not reflected in the CRM"), one per stage after the first.

An entity waits at a stage when it completed the previous stage (an ok hop of that stage's
entity type and step, in the window, of the flow) and no ok hop of this stage's entity type
and step is the same entity or names it as its parent (in the caller's scope), and no
compensation reversed it (a cancelled order does not await billing). Ages run to ``now_ms``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from collector.store import Store
from lineage.business import queries as q
from lineage.core.currency import round_money
from lineage.core.flows import Flow, FlowConfig, Stage
from lineage.core.scope import Scope
from lineage.core.shape import iso

NO_END_MS = 7_258_118_400_000  # 2200-01-01: "now and later" (DateTime64(9) ends in 2262)


def waiting(
    store: Store,
    config: FlowConfig,
    scope: Scope,
    flow: Flow,
    *,
    since_ms: int,
    until_ms: int,
    now_ms: int,
    limit: int,
    stage: str = "",
    as_of_ms: int = NO_END_MS,
) -> dict[str, Any]:
    """Per stage: count, amount per currency, oldest age and the oldest ``limit`` entities.
    ``as_of_ms``: what was still waiting then (a stage reached later does not count)."""
    out = []
    for prev, cur in _stages(flow, stage):
        params = _params(config, scope, flow, prev, cur, since_ms, until_ms, limit, as_of_ms)
        out.append(_stage(prev, cur, store.query_dicts(q.WAITING, params)[0], now_ms))
    return {"flow": flow.name, "since": iso(since_ms), "until": iso(until_ms), "stages": out}


def waiting_in_period(
    store: Store,
    config: FlowConfig,
    scope: Scope,
    flow: Flow,
    *,
    since_ms: int,
    until_ms: int,
    now_ms: int,
    limit: int,
    period: str,
    time_zone: str,
    stage: str = "",
    as_of_ms: int = NO_END_MS,
) -> dict[str, dict[str, Any]]:
    """The close gate's queues: :func:`waiting` of each legal entity in ``scope`` apart (as a
    caller scoped to it alone sees it), one pass for all, over the entities whose business
    ``period`` (YYYY-MM) it is (lineage/business/queries.py BUSINESS_PERIOD, hop times cut in
    ``time_zone``), found among those that completed the previous stage in the window. An
    entity with nothing waiting is absent."""
    window = PeriodWindow(since_ms, until_ms, now_ms, limit, period, time_zone, stage)
    return _in_period(store, config, scope, flow, window, as_of_ms=as_of_ms, now_too=False)[0]


class PeriodWindow(NamedTuple):
    """What a period's queues are read over (:func:`waiting_in_period`'s arguments)."""

    since_ms: int
    until_ms: int
    now_ms: int
    limit: int
    period: str
    time_zone: str
    stage: str = ""


def waiting_at_end_and_now(
    store: Store, config: FlowConfig, scope: Scope, flow: Flow, window: PeriodWindow, end_ms: int
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """:func:`waiting_in_period` as of ``end_ms`` and now, in one pass per stage (what waits now
    waits at the end too: queries.WAITING_BY_PERIOD_AT_END_AND_NOW)."""
    return _in_period(store, config, scope, flow, window, as_of_ms=end_ms, now_too=True)


_NOW = ("n", "oldest_ms", "amounts", "items")  # the columns of the queue now, prefixed ``now_``


def _in_period(
    store: Store, config: FlowConfig, scope: Scope, flow: Flow, w: PeriodWindow, *, as_of_ms: int, now_too: bool
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The queues as of ``as_of_ms`` and, with ``now_too``, now (else empty), per legal entity."""
    sql = q.WAITING_BY_PERIOD_AT_END_AND_NOW if now_too else q.WAITING_BY_PERIOD
    since_ms, until_ms, now_ms = w.since_ms, w.until_ms, w.now_ms
    at: dict[str, list[dict[str, Any]]] = {}
    now: dict[str, list[dict[str, Any]]] = {}
    for prev, cur in _stages(flow, w.stage):
        params = _params(config, scope, flow, prev, cur, since_ms, until_ms, w.limit, as_of_ms)
        for row in store.query_dicts(sql, params | {"period": w.period, "tz": w.time_zone}):
            at.setdefault(row["le"], []).append(_stage(prev, cur, row, now_ms))
            if now_too and row["now_n"]:
                now.setdefault(row["le"], []).append(_stage(prev, cur, {k: row[f"now_{k}"] for k in _NOW}, now_ms))

    def docs(found: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
        return {
            le: {"flow": flow.name, "since": iso(since_ms), "until": iso(until_ms), "stages": stages}
            for le, stages in found.items()
        }

    return docs(at), docs(now)


def _stages(flow: Flow, stage: str) -> list[tuple[Stage, Stage]]:
    return [(p, c) for p, c in zip(flow.stages, flow.stages[1:], strict=False) if not stage or c.name == stage]


def _params(
    config: FlowConfig,
    scope: Scope,
    flow: Flow,
    prev: Stage,
    cur: Stage,
    since_ms: int,
    until_ms: int,
    limit: int,
    as_of_ms: int,
) -> dict[str, Any]:
    return {
        "prev_step": prev.step,
        "prev_type": prev.entity_type,
        "step": cur.step,
        "type": cur.entity_type,
        "flow": flow.name,
        "default_flow": config.default_flow,
        "since_ms": since_ms,
        "until_ms": until_ms,
        "limit": limit,
        "as_of_ms": as_of_ms,
    } | scope.params()


def _stage(prev: Stage, cur: Stage, summary: dict[str, Any], now_ms: int) -> dict[str, Any]:
    keys = ("done_ms", "eid", "et", "amount", "currency", "system", "legal_entity", "cid")
    rows = [dict(zip(keys, item, strict=True)) for item in summary["items"]]
    count = int(summary["n"])
    currencies, amounts = summary["amounts"] if count else ([], [])
    return {
        "stage": cur.name,
        "after": prev.name,
        "step": cur.step,
        "waiting_since_step": prev.step,
        "count": count,
        "amounts": [
            {"currency": c or None, "amount": round_money(a, c)} for c, a in zip(currencies, amounts, strict=True)
        ],
        "oldest_age_ms": max(0, now_ms - int(summary["oldest_ms"])) if count else None,
        "items": [
            {
                "business_key": f"{r['et']}:{r['eid']}",
                "entity_type": r["et"],
                "entity_id": r["eid"],
                "amount": r["amount"],
                "currency": r["currency"] or None,
                "system": r["system"],
                "legal_entity": r["legal_entity"] or None,
                "completed_previous_at": iso(int(r["done_ms"])),
                "age_ms": max(0, now_ms - int(r["done_ms"])),
                "correlation_id": r["cid"],
            }
            for r in rows
        ],
        "truncated": count > len(rows),
    }
