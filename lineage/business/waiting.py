"""Domain: waiting queues of a flow ("orders awaiting billing", "invoices not posted to the
ERP", "payments not reflected in the CRM"), one per stage after the first.

An entity waits at a stage when it completed the previous stage (an ok hop of that stage's
entity type and step, in the window, of the flow) and no ok hop of this stage's entity type
and step is the same entity or names it as its parent (in the caller's scope), and no
compensation reversed it (a cancelled order does not await billing). Ages run to ``now_ms``.
"""

from __future__ import annotations

from typing import Any

from collector.store import Store
from lineage.business import queries as q
from lineage.core.currency import round_money
from lineage.core.flows import Flow, FlowConfig
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
    period: str = "",
    time_zone: str = "UTC",
) -> dict[str, Any]:
    """Per stage: count, amount per currency, oldest age and the oldest ``limit`` entities.
    ``as_of_ms``: what was still waiting then (a stage reached later does not count; the close
    gate's cut-off at a period's end). ``period`` (YYYY-MM): only entities whose business period
    it is (lineage/business/queries.py BUSINESS_PERIOD, hop times cut in ``time_zone``), found
    among those that completed the previous stage in the window."""
    out = []
    for prev, cur in zip(flow.stages, flow.stages[1:], strict=False):
        if stage and cur.name != stage:
            continue
        params = {
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
            "period": period,
            "tz": time_zone,
        } | scope.params()
        summary = store.query_dicts(q.WAITING_BY_PERIOD if period else q.WAITING, params)[0]
        keys = ("done_ms", "eid", "et", "amount", "currency", "system", "legal_entity", "cid")
        rows = [dict(zip(keys, item, strict=True)) for item in summary["items"]]
        count = int(summary["n"])
        currencies, amounts = summary["amounts"] if count else ([], [])
        out.append(
            {
                "stage": cur.name,
                "after": prev.name,
                "step": cur.step,
                "waiting_since_step": prev.step,
                "count": count,
                "amounts": [
                    {"currency": c or None, "amount": round_money(a, c)}
                    for c, a in zip(currencies, amounts, strict=True)
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
        )
    return {"flow": flow.name, "since": iso(since_ms), "until": iso(until_ms), "stages": out}
