""" "Why?" in one line, for an alert that starts firing: the top findings of its rule's subject
over the last 24 hours, narrowed by the instance's labels (system, region, legal entity)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lineage.core.scope import EVERYTHING
from lineage.core.service import Lineage
from lineage.core.window import Window
from lineage.explain.service import Question, explain

# The subject each alert kind asks about (kinds without one are not explained).
SUBJECT_OF_KIND = {"exceptions": "failed", "posting_latency": "slow", "stuck": "stuck", "sla_breach": "breached"}
WINDOW_MS = 24 * 3_600_000
TOP = 3


def what(finding: dict[str, Any]) -> str:
    """A finding's dimension values: ``region=amer AND currency=USD``."""
    return " AND ".join(f"{d['dimension']}={d['value']}" for d in finding["dimensions"])


def line(doc: dict[str, Any], top: int = TOP) -> str:
    """The top findings as text: ``region=amer (75% vs 23%, 71 of 95, 61,886.00 GBP); ...``."""
    parts = []
    for f in doc["findings"][:top]:
        money = ", ".join(f"{m['amount']:,.2f} {m['currency'] or '?'}" for m in f["money_at_risk"][:2])
        share = f"{f['share_selection']:.0%} vs {f['share_baseline']:.0%}"
        parts.append(
            f"{what(f)} ({share}, {f['selection_count']} of {doc['selection']['count']}{', ' + money if money else ''})"
        )
    return "; ".join(parts)


def why_text(svc: Lineage, kind: str, expr: Mapping[str, Any], labels: Mapping[str, str], now_ms: int) -> str:
    """The line for one alert instance ('' when the kind has no subject or nothing stands out)."""
    subject = SUBJECT_OF_KIND.get(kind)
    if subject is None:
        return ""
    flow = svc.config.flow(str(expr.get("flow") or labels.get("flow") or "") or None)
    stage = flow.latency_to if subject == "slow" else str(expr.get("stage") or "") if subject == "breached" else ""
    scope = EVERYTHING.narrowed(labels.get("legal_entity", ""), labels.get("region", ""))
    window = Window(now_ms - WINDOW_MS, now_ms, 100)
    question = Question(subject, "rest", flow.name, stage, labels.get("system", ""), window)
    return line(explain(svc, scope, question))
