"""Drill-down: the list behind a headline figure or a worst-systems row (open exceptions,
stuck, failed or SLA-breached transactions) with business key, amount, system and age."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import data, formats, kpis
from dashboard.state import Filters
from dashboard.views import why
from dashboard.views.common import (
    LINK,
    context_notes,
    empty_text,
    freshness,
    lineage_link,
    narrowed,
    small_table,
    table,
)

KINDS = list(kpis.RISK_LABELS)


def rows(items: list[dict[str, Any]], f: Filters) -> list[dict[str, Any]]:
    """At-risk items as table rows, oldest first (the API's order); the lineage link keeps the context."""
    return [
        {
            "lineage": lineage_link(f, i["correlation_id"]),
            "business key": i["business_key"],
            "amount": i["amount"],
            "currency": i["currency"],
            "system": i["system"],
            "region": i["region"],
            "age": i["age_ms"],
            "kind": i["kind"],
            "detail": i["detail"],
            "correlation_id": i["correlation_id"],
        }
        for i in items
    ]


def totals(doc: dict[str, Any], part: str, label: str) -> list[dict[str, Any]]:
    """Totals per group and currency of one kind, as rows."""
    return [
        {
            label: t["group"] or "(none)",
            "amount": formats.total(t["amount"], t["currency"]),
            "items": t["count"],
        }
        for t in doc[part]
    ]


def headline(totals: list[dict[str, Any]], per_row: int = 3) -> None:
    """One card per currency with its total in full, at most ``per_row`` to a row, so even a
    nine-digit amount fits its card at 1440 px."""
    for start in range(0, len(totals), per_row):
        for column, t in zip(st.columns(per_row), totals[start : start + per_row], strict=False):
            n = formats.plural(t["count"], "item")
            label = f"{t['currency']} ({n})" if t["currency"] else f"{n} without an amount"
            column.metric(label, formats.total(t["amount"], t["currency"]), border=True)


# The "Why?" subject of each list: exceptions and failed transactions ask about failed entity-steps.
WHY = {"open_exceptions": "failed", "failed": "failed", "stuck": "stuck", "breached": "breached"}


def render(f: Filters) -> None:
    """Lay out the drill-down."""
    kind = f.drill if f.drill in KINDS else "open_exceptions"
    st.header(f"Drill-down: {kpis.RISK_LABELS[kind]}")
    picked = st.radio("List", KINDS, index=KINDS.index(kind), horizontal=True, format_func=kpis.RISK_LABELS.get)
    if picked != kind:
        st.query_params["drill"] = picked
        st.rerun()
    st.caption(f"{f.label}{narrowed(f)}. Oldest first.")
    doc = data.fetch("at_risk", kind=kind, **f.context(), limit=2000)
    context_notes(doc)
    if doc["truncated"]:
        st.warning("The list was cut at 2,000 rows; narrow the time range or filters for the rest.")
    mine = [t for t in doc["totals"] if t["kind"] == kind]
    st.metric("Items in this list", formats.count(sum(t["count"] for t in mine)), border=True)
    headline(mine)
    table(
        rows(doc["items"], f),
        "drill_table",
        empty_text("Nothing in this list.", doc),
        money={"amount": "currency"},
        durations=("age",),
        missing=formats.UNKNOWN_AMOUNT,
        lineage=LINK,
    )
    left, right = st.columns(2)
    with left:
        st.markdown("**By system**")
        small_table(
            totals({"by_system": [t for t in doc["by_system"] if t["kind"] == kind]}, "by_system", "system"), "—"
        )
    with right:
        st.markdown("**By region**")
        small_table(
            totals({"by_region": [t for t in doc["by_region"] if t["kind"] == kind]}, "by_region", "region"), "—"
        )
    why.panel(f, WHY[kind])
    freshness(doc)
