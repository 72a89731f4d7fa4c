"""The insights service: flows and systems for pickers, the posting-latency histogram and
money at risk with the lists behind it. Reads only; every query binds the caller's scope."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from lineage.core.currency import total
from lineage.core.flows import Flow
from lineage.core.scope import Scope
from lineage.core.service import Lineage
from lineage.core.shape import iso
from lineage.core.timeparse import to_ms, utcnow
from lineage.core.window import Window
from lineage.insights import queries

# Histogram bin edges (ms): 0, then log-spaced from 1 s to 7 days, 6 bins per decade, so a
# 10-hour tail is as visible as the 20-minute bulk.
EDGES: list[int] = [0, *(round(1000 * 10 ** (i / 6)) for i in range(36) if 1000 * 10 ** (i / 6) <= 7 * 86400_000)]
RISK_KINDS = ("open_exceptions", "stuck", "failed", "breached")


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


def flows(svc: Lineage) -> dict[str, Any]:
    """The flows of the loaded flows file, default first."""
    config = svc.config
    ordered = sorted(config.flows.values(), key=lambda f: (f.name != config.default_flow, f.name))
    return {
        "flows": [
            {
                "name": f.name,
                "description": f.description,
                "default": f.name == config.default_flow,
                "end_to_end_sla_ms": _ms(f.end_to_end_sla_s),
                "latency_from": f.latency_from,
                "latency_to": f.latency_to,
                "stages": [
                    {
                        "name": s.name,
                        "entity_type": s.entity_type,
                        "step": s.step,
                        "sla_ms": _ms(s.sla_s),
                        "required": s.required,
                    }
                    for s in f.stages
                ],
            }
            for f in ordered
        ]
    }


def systems(svc: Lineage, scope: Scope, window: Window) -> dict[str, Any]:
    """Systems seen in in-scope hops of the window, plus those the flows file names."""
    page = svc.store.query_bounded(
        queries.SYSTEMS, {"since_ms": window.since_ms, "until_ms": window.until_ms, **scope.params()}, window.limit
    )
    seen = {str(r["system"]): r for r in page.rows}
    named = set(svc.config.systems) - set(seen)
    out = [{"system": s, "hops": int(r["hops"]), "last_seen": iso(int(r["last_ms"]))} for s, r in seen.items()]
    out += [{"system": s, "hops": 0, "last_seen": None} for s in named]
    return {"systems": sorted(out, key=lambda r: r["system"]), "truncated": page.truncated}


def _sla_ms(flow: Flow) -> int | None:
    stage = next((s for s in flow.stages if s.step == flow.latency_to), None)
    return _ms(stage.sla_s) if stage is not None else None


def latency_histogram(
    svc: Lineage, scope: Scope, flow: Flow, window: Window, system: str, region: str, legal_entity: str
) -> dict[str, Any]:
    """Every posting's latency in the window counted into :data:`EDGES` bins, with exact quantiles."""
    sla_ms = _sla_ms(flow)
    rows = svc.store.query_dicts(
        queries.LATENCY_HISTOGRAM,
        {
            "since_ms": window.since_ms,
            "until_ms": window.until_ms,
            "from_step": flow.latency_from,
            "to_step": flow.latency_to,
            "system": system,
            "region": region,
            "legal_entity": legal_entity,
            "sla_ms": sla_ms if sla_ms is not None else 2**62,
            "edges": EDGES,
            **scope.params(),
        },
    )
    row: dict[str, Any] = rows[0] if rows else {"n": 0}
    n = int(row["n"])
    counts: dict[int, int] = dict(zip(*row["bins"], strict=True)) if n else {}
    bins = [
        {
            "lower_ms": EDGES[i],
            "upper_ms": EDGES[i + 1] if i + 1 < len(EDGES) else None,
            "count": int(counts.get(i + 1, 0)),
        }
        for i in range(len(EDGES))
    ]
    q = [float(x) for x in row["q"]] if n else [None, None, None]
    return {
        "flow": flow.name,
        "from_step": flow.latency_from,
        "to_step": flow.latency_to,
        "count": n,
        "p50_ms": q[0],
        "p95_ms": q[1],
        "p99_ms": q[2],
        "max_ms": int(row["max_ms"]) if n else None,
        "sum_ms": int(row["sum_ms"]) if n else 0,
        "sla_ms": sla_ms,
        "over_sla": int(row["over_sla"]) if n else 0,
        "bins": bins,
        "truncated": False,
    }


def at_risk(
    svc: Lineage,
    scope: Scope,
    window: Window,
    kind: str,
    system: str,
    region: str,
    flow: str,
    max_rows: int = 0,
) -> dict[str, Any]:
    """Open exceptions and stuck, failed or SLA-breached transactions (started in the window),
    each with its business key, amount, system and age; totals per currency, system and region.

    ``kind`` (empty: all) narrows the list; totals always cover every kind. A transaction is
    listed under each kind it belongs to (a stuck transaction is often breached too).
    ``max_rows`` (0: the store's row cap) bounds what the parts read (a background reader such
    as the business metrics may read more than a request).
    """
    now = to_ms(utcnow())
    items: list[dict[str, Any]] = []
    truncated = False
    # the parts are read up to the row limit; ``limit`` cuts the list only, never the totals
    rows = max_rows or svc.settings.query_max_rows
    full = Window(window.since_ms, window.until_ms, rows)
    exc = svc.exceptions(scope, full, "open", "", system)
    truncated |= bool(exc["truncated"])
    opened = [e for e in exc["exceptions"] if not region or e["region"] == region]
    for e in opened:  # exceptions belong to an entity and step, not to a flow: not narrowed by flow
        amount, currency = e["amount"], e["currency"]
        items.append(
            {
                "kind": "open_exceptions",
                "business_key": f"{e['entity_type']}:{e['entity_id']}",
                "correlation_id": e["correlation_id"],
                "amount": amount,
                "currency": currency,
                "system": e["system"],
                "region": e["region"],
                "age_ms": int(e["age_ms"]),
                "detail": f"{e['category'] or 'uncategorised'} at {e['step']}",
                "exception_id": e["id"],
                "flow": None,
            }
        )
    txns = svc.transactions(scope, full, "", flow, system, region, max_rows=rows)
    truncated |= bool(txns["truncated"])
    risky = [t for t in txns["transactions"] if t["status"] in ("stuck", "failed") or t["sla_breached"]]
    facts = svc.transaction_amounts(scope, [t["correlation_id"] for t in risky])
    for t in risky:
        f = facts.get(t["correlation_id"])
        if f is None:
            continue
        kinds = [k for k in ("stuck", "failed") if t["status"] == k] + (["breached"] if t["sla_breached"] else [])
        started = to_ms_iso(t["started_at"])
        for k in kinds:
            items.append(
                {
                    "kind": k,
                    "business_key": f["business_key"],
                    "correlation_id": t["correlation_id"],
                    "amount": f["amount"],
                    "currency": f["currency"],
                    "system": f["system"],
                    "region": f["region"] or None,
                    "age_ms": max(now - started, 0),
                    "detail": f"{t['flow']} · {t['status']}" + (" · SLA breached" if t["sla_breached"] else ""),
                    "exception_id": None,
                    "flow": t["flow"],
                }
            )
    listed = [i for i in items if not kind or i["kind"] == kind]
    listed.sort(key=lambda i: -i["age_ms"])
    return {
        "items": listed[: window.limit],
        "totals": _totals(items, None),
        "by_system": _totals(items, "system"),
        "by_region": _totals(items, "region"),
        "as_of": iso(now),
        "truncated": truncated or len(listed) > window.limit,
        "totals_truncated": truncated,
    }


def to_ms_iso(text: str) -> int:
    """Epoch ms of an ISO-8601 ``...Z`` timestamp from the service."""
    return to_ms(datetime.fromisoformat(text.replace("Z", "+00:00")))


def _totals(items: list[dict[str, Any]], by: str | None) -> list[dict[str, Any]]:
    acc: dict[tuple[str, str | None, str | None], list[float]] = defaultdict(list)
    for i in items:
        acc[(i["kind"], i[by] if by else None, i["currency"])].append(i["amount"] or 0.0)
    rows = [
        {"kind": k, "group": g, "currency": c, "amount": total(amounts, c), "count": len(amounts)}
        for (k, g, c), amounts in acc.items()
    ]
    return sorted(
        rows, key=lambda r: (RISK_KINDS.index(r["kind"]), -r["amount"], r["group"] or "", r["currency"] or "")
    )
