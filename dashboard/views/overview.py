"""Overview: the figures people ask first, each with its trend; the worst systems and regions."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from dashboard import data, figures, kpis
from dashboard.state import Filters
from dashboard.views.common import chart, kpi, table
from dashboard.views.latency import latency


def _open_exceptions(f: Filters) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = data.fetch("exceptions", state="open", system=f.system, since="30d", limit=5000)[
        "exceptions"
    ]
    return [r for r in rows if not f.region or r["region"] == f.region]


def render(f: Filters) -> None:
    """Lay out the overview."""
    st.header("Overview")
    backlog = data.fetch("backlog", since=f.since, bucket=f.bucket)
    breaches = data.fetch("breaches", since="48h", flow=f.flow, limit=5000)
    stuck = data.fetch(
        "transactions", status="stuck", since=f.since, flow=f.flow, system=f.system, region=f.region, limit=5000
    )
    flow_throughput = data.fetch("throughput", since=f.since, bucket=f.bucket, flow=f.flow)
    open_rows = _open_exceptions(f)
    cols = st.columns(5)
    kpi(cols[0], kpis.latency_p95(latency(f, f.bucket)))
    # the backlog series cannot be narrowed by system or region: no trend then
    kpi(cols[1], kpis.open_exceptions(len(open_rows), [] if f.system or f.region else backlog["series"]))
    kpi(cols[2], kpis.breaches_today(breaches["breaches"], datetime.now(UTC)))
    kpi(cols[3], kpis.stuck(stuck["transactions"]))
    kpi(cols[4], kpis.throughput(flow_throughput["buckets"], f.bucket))
    left, right = st.columns(2)
    with left:
        st.subheader("Worst systems (open exceptions)")
        table(kpis.worst(open_rows, "system"), "worst_systems", "No open exceptions.")
    with right:
        st.subheader("Worst regions")
        table(kpis.worst(open_rows, "region"), "worst_regions", "No open exceptions.")
        by_region = data.fetch("posting_latency", since=f.since, bucket=f.bucket, flow=f.flow, group_by="region")
        table(kpis.worst_latency(by_region["buckets"]), "worst_latency", "No postings in this range.")
    chart(figures.throughput_lines(flow_throughput["buckets"]), "throughput")
