"""SLA breaches by flow and stage over time; breached and overdue transactions."""

from __future__ import annotations

import streamlit as st

from dashboard import data, figures, formats, kpis, why_figures
from dashboard.state import Filters
from dashboard.views import why
from dashboard.views.common import LINK, chart, context_notes, empty_text, freshness, lineage_link, table


def render(f: Filters) -> None:
    """Lay out the SLA page."""
    st.header("SLA breaches")
    every = {} if f.flow else {"every_flow": "true"}  # one call for every flow
    doc = data.fetch("breaches", **f.context(), **every, stage=f.stage, limit=5000)
    if f.stage:
        left, right = st.columns([4, 1])
        left.info(f"Only stage {f.stage} (from the link that opened this page).")
        if right.button("Show every stage"):
            del st.query_params["stage"]
            st.rerun()
    context_notes(doc)
    breaches = doc["breaches"]
    cols = st.columns(3)
    for col, kind, label in zip(
        cols,
        ("late_complete", "open_overdue", "end_to_end"),
        ("Completed late", "Open and overdue", "End-to-end breaches"),
        strict=True,
    ):
        col.metric(label, formats.count(int(doc[kind])), border=True)
    if doc["truncated"]:
        st.warning("The breach list was truncated; narrow the time range for the full list.")
    over_time = figures.breaches_over_time(breaches, f.bucket_delta)
    chart(why_figures.mark_change(over_time, why.change_point(f, "breached", f.stage)), "breaches_time")
    st.subheader("Breached and overdue transactions")
    table(
        kpis.breach_rows(breaches, lambda cid: lineage_link(f, cid)),
        "breach_table",
        empty_text("No SLA breaches in this time range.", doc),
        money={"amount": "currency"},
        durations=("SLA", "overdue"),
        missing=formats.UNKNOWN_AMOUNT,
        lineage=LINK,
    )
    why.panel(f, "breached", f.stage)
    freshness(doc)
