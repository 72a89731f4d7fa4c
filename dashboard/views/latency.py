"""Posting latency: percentiles over time, the distribution of every posting, heatmap by hour."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import streamlit as st

from dashboard import data, figures, formats, kpis
from dashboard.state import Filters
from dashboard.views.common import chart, freshness, kpi, posting_sla_ms

NARROWS = ("system", "region", "legal_entity")


def narrowed_by(f: Filters) -> tuple[str, str] | None:
    """The one filter the percentile series is narrowed by (the API groups by one dimension)."""
    return next(((n, getattr(f, n)) for n in NARROWS if getattr(f, n)), None)


def latency(f: Filters, bucket: str, group_by: str = "") -> list[dict[str, Any]]:
    """Latency buckets narrowed server side by system, region or legal entity (the API's
    ``group_by``; the set one picked). With ``group_by``, every group of the window."""
    narrow = narrowed_by(f)
    if narrow and group_by in ("", narrow[0]):
        doc = data.fetch(
            "posting_latency", since=f.since, until=f.until, bucket=bucket, flow=f.flow, group_by=narrow[0]
        )
        return [b for b in doc["buckets"] if b["group"] == narrow[1]]
    doc = data.fetch("posting_latency", since=f.since, until=f.until, bucket=bucket, flow=f.flow, group_by=group_by)
    rows: list[dict[str, Any]] = doc["buckets"]
    return rows


def histogram(f: Filters) -> dict[str, Any]:
    """Every posting's latency in the range, filtered by the API on every filter."""
    return data.fetch(
        "latency_histogram",
        since=f.since,
        until=f.until,
        flow=f.flow,
        system=f.system,
        region=f.region,
        legal_entity=f.legal_entity,
    )


def render(f: Filters) -> None:
    """Lay out the latency page."""
    st.header("Posting latency")
    narrow = narrowed_by(f)
    extra = [n.replace("_", " ") for n in NARROWS if getattr(f, n)][1:]
    if extra:
        st.caption(
            f"Percentiles over time and the heatmap are narrowed by {narrow[0] if narrow else ''} only "
            f"(not by {', '.join(extra)}); the distribution applies every filter."
        )
    window = {"since": f.since, "until": f.until, "flow": f.flow}
    heat_by = st.session_state.get("heat_by", NARROWS[0])
    data.prefetch(  # the page's answers at once
        ("posting_latency", {**window, "bucket": f.bucket, "group_by": narrow[0] if narrow else ""}),
        ("posting_latency", {**window, "bucket": "1h", "group_by": heat_by}),
        ("latency_histogram", {**window, "system": f.system, "region": f.region, "legal_entity": f.legal_entity}),
        ("systems", {"since": "7d"}),
    )
    sla_ms = posting_sla_ms(f.flow)
    buckets = latency(f, f.bucket)
    kpi(st, kpis.latency_p95(buckets, f.bucket_delta, datetime.now(UTC)))
    chart(figures.latency_over_time(buckets, sla_ms), "latency_lines")
    left, right = st.columns(2)
    with left:
        hist = histogram(f)
        chart(figures.latency_histogram(hist, sla_ms), "latency_hist")
        if hist["count"]:
            st.caption(
                f"{formats.count(hist['count'])} postings; {formats.count(hist['over_sla'])} over the SLA "
                f"({formats.percent(hist['over_sla'] / hist['count'])}); slowest {formats.format_ms(hist['max_ms'])}."
            )
    with right:
        group_by = st.radio("Heatmap by", list(NARROWS), horizontal=True, key="heat_by")
        label = group_by.replace("_", " ")
        heat = latency(f, "1h", group_by)
        if narrow and narrow[0] != group_by:
            st.caption(f"Heatmap by {label} is not filtered by {narrow[0].replace('_', ' ')}.")
        chart(figures.latency_heatmap(heat, label), "latency_heat")
    freshness(hist)
