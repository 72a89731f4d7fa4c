"""Reconciliation (issue 17): drift per day and legal entity between two systems, and the
breaks, each linked to its lineage. New page; reads GET /api/v1/reconciliations[/{name}[/breaks]]."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import streamlit as st

from dashboard import formats
from dashboard.flow_figures import drift_figure
from dashboard.state import Filters
from dashboard.views.common import LINK, chart, table
from dashboard.views.flows import get

KINDS = ("left_only", "right_only", "amount_mismatch", "currency_mismatch")


def render(f: Filters) -> None:
    """Lay out the reconciliation page."""
    st.header("Reconciliation")
    recs = get("/api/v1/reconciliations")["reconciliations"]
    if not recs:
        st.info("The flows file declares no reconciliations.")
        return
    names = [r["name"] for r in recs]
    name = st.selectbox("Reconciliation", names, key="recon_name")
    rec = recs[names.index(name)]
    st.caption(
        f"{rec['left']['system'] or 'any system'} {rec['left']['step']} ↔ "
        f"{rec['right']['system'] or 'any system'} {rec['right']['step']} · match by {rec['match']} · "
        f"tolerance {formats.number(rec['tolerance'])}"
    )
    since = f.range if f.range in ("7d", "30d") else "7d"
    doc = get(f"/api/v1/reconciliations/{quote(name, safe='')}", since=since, bucket="1d")
    buckets = doc["buckets"]
    if f.legal_entity:
        buckets = [b for b in buckets if b["legal_entity"] == f.legal_entity]
    totals = {k: sum(b["breaks"][k] for b in buckets) for k in KINDS}
    columns = st.columns(6)
    columns[0].metric("matched", formats.count(sum(b["matched"] for b in buckets)), border=True)
    columns[1].metric("compensated", formats.count(sum(b["compensated"] for b in buckets)), border=True)
    for column, kind in zip(columns[2:], KINDS, strict=True):
        column.metric(kind.replace("_", " "), formats.count(totals[kind]), border=True)
    chart(drift_figure(buckets, datetime.now(UTC)), "recon_drift")
    st.subheader(f"Drift per day, legal entity and currency (last {since})")
    rows = [
        {
            "day": b["bucket"][:10],
            "legal entity": b["legal_entity"],
            "currency": b["currency"],
            "left": b["left"]["count"],
            "left amount": b["left"]["amount"],
            "right": b["right"]["count"],
            "right amount": b["right"]["amount"],
            "matched": b["matched"],
            "breaks": b["break_count"],
            "unposted amount": b["break_amounts"]["left_only"],
            "amount difference": b["break_amounts"]["amount_difference"],
        }
        for b in buckets
    ]
    amounts = ("left amount", "right amount", "unposted amount", "amount difference")
    table(rows, "recon_table", "Nothing to reconcile in this window.", money=dict.fromkeys(amounts, "currency"))
    st.subheader("Breaks")
    kind = st.selectbox("Kind", ["", *KINDS], format_func=lambda k: k or "all", key="recon_kind")
    breaks = get(f"/api/v1/reconciliations/{quote(name, safe='')}/breaks", since=since, kind=kind, limit=500)
    items = [
        {
            "key": b["key"],
            "kind": b["kind"],
            "at": b["at"],
            "legal entity": b["legal_entity"],
            "left": b["left_amount"],
            "left currency": b["left_currency"],
            "right": b["right_amount"],
            "right currency": b["right_currency"],
            "right entities": ", ".join(b["right_entities"]),
            "lineage": f"?page=lineage&correlation_id={quote(b['correlation_ids'][0], safe='')}"
            if b["correlation_ids"]
            else None,
        }
        for b in breaks["breaks"]
        if not f.legal_entity or b["legal_entity"] == f.legal_entity
    ]
    table(
        items,
        "recon_breaks",
        "No breaks.",
        money={"left": "left currency", "right": "right currency"},
        missing="none",
        lineage=LINK,
    )
    if breaks["truncated"]:
        st.caption(f"Showing the first {formats.count(len(items))} breaks.")
