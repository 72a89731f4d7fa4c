"""Reconciliation (issue 17): drift per day and legal entity between two systems, and the
breaks, each linked to its lineage. New page; reads GET /api/v1/reconciliations[/{name}[/breaks]]."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import streamlit as st

from dashboard import data, formats
from dashboard.flow_figures import drift_figure
from dashboard.state import Filters
from dashboard.views.common import LINK, chart, context_notes, freshness, lineage_link, table, url_picker
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
    name = url_picker("Reconciliation", names, "rec", f.rec)
    rec = recs[names.index(name)]
    st.caption(
        f"{rec['left']['system'] or 'any system'} {rec['left']['step']} ↔ "
        f"{rec['right']['system'] or 'any system'} {rec['right']['step']} · match by {rec['match']} · "
        f"tolerance {formats.number(rec['tolerance'])}"
    )
    daily = f.preset in ("7d", "30d")
    path = f"/api/v1/reconciliations/{quote(name, safe='')}"
    drift_call = {"path": path, **f.context(), "bucket": "1d" if daily else "1h"}
    kind = st.session_state.get("recon_kind", "")
    breaks_call = {"path": f"{path}/breaks", **f.context(), "kind": kind, "limit": 500}
    data.prefetch(("get", drift_call), ("get", breaks_call))  # the page's two figures at once
    doc, breaks = data.fetch("get", **drift_call), data.fetch("get", **breaks_call)
    context_notes(doc, breaks)
    buckets = doc["buckets"]
    totals = {k: sum(b["breaks"][k] for b in buckets) for k in KINDS}
    columns = st.columns(6)
    columns[0].metric("matched", formats.count(sum(b["matched"] for b in buckets)), border=True)
    columns[1].metric("compensated", formats.count(sum(b["compensated"] for b in buckets)), border=True)
    for column, kind in zip(columns[2:], KINDS, strict=True):
        column.metric(kind.replace("_", " "), formats.count(totals[kind]), border=True)
    chart(drift_figure(buckets, datetime.now(UTC)), "recon_drift")
    per = "day" if daily else "hour"
    st.subheader(f"Drift per {per}, legal entity and currency ({f.label})")
    rows = [
        {
            per: b["bucket"][:10] if daily else b["bucket"][:16].replace("T", " "),
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
    # fetched above with the widget's value (a widget's state is set before the script runs)
    st.selectbox("Kind", ["", *KINDS], format_func=lambda k: k or "all", key="recon_kind")
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
            "lineage": lineage_link(f, b["correlation_ids"][0]) if b["correlation_ids"] else None,
        }
        for b in breaks["breaks"]
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
    freshness(doc, breaks)
