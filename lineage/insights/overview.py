"""The overview in one answer: the headline figures, money at risk and the worst systems and
regions, all from one context.

Every count and amount here is a total of :func:`lineage.insights.service.at_risk`, the same
items the drill-down lists (``GET /api/v1/at-risk?kind=...`` with the same context), so a card
and the list behind it are one definition and cannot disagree. Posting latency and throughput
are the flow's ``posting_latency`` KPI over the same window.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from lineage.business import kpis, metrics
from lineage.core.flows import Flow
from lineage.core.scope import Scope
from lineage.core.service import Lineage
from lineage.core.shape import iso
from lineage.core.window import Window
from lineage.insights.service import RISK_KINDS, at_risk, latency_histogram

WORST = 5


def _cards(totals: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    cards: dict[str, dict[str, Any]] = {k: {"count": 0, "amounts": []} for k in RISK_KINDS}
    for t in totals:
        card = cards[t["kind"]]
        card["count"] += t["count"]
        card["amounts"].append({"currency": t["currency"], "amount": t["amount"], "count": t["count"]})
    return cards


def _worst(by: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """Groups (system or region) by their count of ``kind``, most first, with money per currency."""
    acc: dict[str | None, dict[str, Any]] = defaultdict(lambda: {"count": 0, "amounts": []})
    for t in by:
        if t["kind"] == kind:
            acc[t["group"]]["count"] += t["count"]
            acc[t["group"]]["amounts"].append({"currency": t["currency"], "amount": t["amount"], "count": t["count"]})
    rows = [{"group": g, **v} for g, v in acc.items()]
    return sorted(rows, key=lambda r: (-r["count"], r["group"] or ""))[:WORST]


def overview(
    svc: Lineage,
    scope: Scope,
    window: Window,
    flow: Flow,
    bucket_ms: int,
    *,
    system: str,
    region: str,
    le: str,
    flow_asked: str,
) -> dict[str, Any]:
    """Cards, money at risk, worst systems and regions, latency and throughput of one context."""
    risk = at_risk(svc, scope, Window(window.since_ms, window.until_ms, 1), "", system, region, flow_asked)
    kpi = flow.all_kpis()[0]  # posting_latency
    since_ms, until_ms = window.since_ms, window.until_ms
    points, series_truncated = kpis.series(
        svc.store, svc.config, scope, flow, kpi, since_ms=since_ms, until_ms=until_ms, bucket_ms=bucket_ms,
        system=system, limit=window.limit,
    )  # fmt: skip
    stored_late = metrics.late(svc, scope, window, bucket_ms, "", system, steps=[flow.latency_to])
    latency = latency_histogram(svc, scope, flow, window, system, region, le)
    whole = max(until_ms - since_ms, 1000)  # one bucket: the window
    by_region, _ = kpis.series(
        svc.store, svc.config, scope, flow, kpi, since_ms=since_ms, until_ms=until_ms, bucket_ms=whole,
        group_by="region", system=system, limit=100,
    )  # fmt: skip
    regions = sorted((p for p in by_region if p.count), key=lambda p: -(p.quantiles[1] if p.quantiles else 0.0))
    slowest = [
        {"group": p.group or None, "count": p.count, "p95_ms": p.quantiles[1] if p.quantiles else 0.0}
        for p in regions[:WORST]
    ]
    return {
        "cards": _cards(risk["totals"]),
        "posting": {
            "flow": flow.name,
            "count": latency["count"],
            "p95_ms": latency["p95_ms"],
            "over_sla": latency["over_sla"],
            "sla_ms": latency["sla_ms"],
        },
        "series": [
            {
                "bucket": iso(p.bucket_ms),
                "count": p.count,
                "p95_ms": p.quantiles[1] if p.quantiles else None,
                "late": stored_late.get((p.bucket_ms, "", ""), 0),
            }
            for p in points
        ],
        "bucket_ms": bucket_ms,
        "money_at_risk": {"totals": risk["totals"], "by_system": risk["by_system"], "by_region": risk["by_region"]},
        "worst_systems": _worst(risk["by_system"], "open_exceptions"),
        "worst_regions": _worst(risk["by_region"], "open_exceptions"),
        "slowest_regions": slowest,
        "as_of": risk["as_of"],
        "truncated": bool(risk["totals_truncated"]) or series_truncated,
    }
