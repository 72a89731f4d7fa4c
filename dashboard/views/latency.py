"""Posting latency: percentiles over time, the distribution of every posting, heatmap by hour."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import streamlit as st

from dashboard import data, figures, formats, kpis
from dashboard.state import Filters
from dashboard.views.common import chart, context_notes, freshness, kpi, posting_sla_ms, url_picker

NARROWS = ("system", "region", "legal_entity")  # the heatmap's groupings


def _main(f: Filters) -> dict[str, Any]:
    """The page's first call: latency per bucket and, in the same answer, the histogram."""
    return data.fetch("posting_latency", **f.context(), bucket=f.bucket, group_by="", histogram="true")


def latency(f: Filters, bucket: str, group_by: str = "") -> list[dict[str, Any]]:
    """Latency buckets of the page's whole context (the API narrows by system, region and legal
    entity); with ``group_by``, per system, region or legal entity."""
    if bucket == f.bucket and not group_by:
        doc = _main(f)
    else:
        doc = data.fetch("posting_latency", **f.context(), bucket=bucket, group_by=group_by)
    rows: list[dict[str, Any]] = doc["buckets"]
    return rows


def histogram(f: Filters) -> dict[str, Any]:
    """Every posting's latency in the range, filtered by the API on every filter."""
    doc: dict[str, Any] = _main(f)["histogram"]
    return doc


def render(f: Filters) -> None:
    """Lay out the latency page."""
    st.header("Posting latency")
    heat_by = f.heat_by if f.heat_by in NARROWS else NARROWS[0]
    data.prefetch(  # the page's answers at once
        ("posting_latency", {**f.context(), "bucket": f.bucket, "group_by": "", "histogram": "true"}),
        ("posting_latency", {**f.context(), "bucket": "1h", "group_by": heat_by}),
    )
    sla_ms = posting_sla_ms(f.flow)
    buckets = latency(f, f.bucket)
    kpi(st, kpis.latency_p95(buckets, f.bucket_delta, datetime.now(UTC)))
    chart(figures.latency_over_time(buckets, sla_ms), "latency_lines")
    if note := figures.late_summary(buckets):
        st.caption(note)
    left, right = st.columns(2)
    hist = histogram(f)
    context_notes(hist)
    with left:
        chart(figures.latency_histogram(hist, sla_ms), "latency_hist")
        if hist["count"]:
            st.caption(
                f"{formats.count(hist['count'])} postings; {formats.count(hist['over_sla'])} over the SLA "
                f"({formats.percent(hist['over_sla'] / hist['count'])}); slowest {formats.format_ms(hist['max_ms'])}."
            )
    with right:
        group_by = url_picker("Heatmap by", list(NARROWS), "heat_by", heat_by)
        label = group_by.replace("_", " ")
        heat = latency(f, "1h", group_by)
        chart(figures.latency_heatmap(heat, label), "latency_heat")
    freshness(hist)
