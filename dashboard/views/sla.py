"""SLA breaches by flow and stage over time; breached and overdue transactions."""

from __future__ import annotations

import streamlit as st

from dashboard import data, figures, formats, kpis
from dashboard.state import Filters
from dashboard.views.common import LINK, chart, freshness, not_filtered, table


def render(f: Filters) -> None:
    """Lay out the SLA page."""
    st.header("SLA breaches")
    flows = [f.flow] if f.flow else data.flow_names()
    params = {"stage": f.stage} if f.stage else {}
    docs = [data.fetch("breaches", since=f.since, until=f.until, flow=flow, limit=5000, **params) for flow in flows]
    if f.stage:
        st.caption(f"Stage: {f.stage}")
    if note := not_filtered(f, "system", "region", "legal_entity"):
        st.caption(note)
    breaches = [b for d in docs for b in d["breaches"]]
    cols = st.columns(3)
    for col, kind, label in zip(
        cols,
        ("late_complete", "open_overdue", "end_to_end"),
        ("Completed late", "Open and overdue", "End-to-end breaches"),
        strict=True,
    ):
        col.metric(label, formats.count(sum(int(d[kind]) for d in docs)), border=True)
    if any(d["truncated"] for d in docs):
        st.warning("The breach list was truncated; narrow the time range for the full list.")
    chart(figures.breaches_over_time(breaches, f.bucket_delta), "breaches_time")
    st.subheader("Breached and overdue transactions")
    table(
        kpis.breach_rows(breaches),
        "breach_table",
        "No SLA breaches in this time range.",
        durations=("SLA", "overdue"),
        lineage=LINK,
    )
    freshness(*docs)
