"""Posting latency: percentiles over time, distribution, heatmap by hour x system or region."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import data, figures, kpis
from dashboard.state import Filters
from dashboard.views.common import chart, kpi, posting_sla_ms


def latency(f: Filters, bucket: str, group_by: str = "") -> list[dict[str, Any]]:
    """Latency buckets honouring the region / legal-entity filter (via a grouped query)."""
    narrow = ("region", f.region) if f.region else ("legal_entity", f.legal_entity) if f.legal_entity else None
    if narrow and group_by in ("", narrow[0]):
        doc = data.fetch("posting_latency", since=f.since, bucket=bucket, flow=f.flow, group_by=narrow[0])
        return [b for b in doc["buckets"] if b["group"] == narrow[1]]
    doc = data.fetch("posting_latency", since=f.since, bucket=bucket, flow=f.flow, group_by=group_by)
    rows: list[dict[str, Any]] = doc["buckets"]
    return rows


def render(f: Filters) -> None:
    """Lay out the latency page."""
    st.header("Posting latency")
    if f.region and f.legal_entity:
        st.caption("Region and legal entity are both set: latency is narrowed by region only.")
    sla_ms = posting_sla_ms()
    buckets = latency(f, f.bucket)
    kpi(st, kpis.latency_p95(buckets))
    chart(figures.latency_over_time(buckets, sla_ms), "latency_lines")
    left, right = st.columns(2)
    with left:
        chart(figures.latency_histogram(latency(f, f.fine_bucket()), sla_ms), "latency_hist")
    with right:
        group_by = st.radio("Heatmap by", ["region", "system", "legal_entity"], horizontal=True, key="heat_by")
        label = group_by.replace("_", " ")
        chart(figures.latency_heatmap(latency(f, "1h", group_by), label), "latency_heat")
