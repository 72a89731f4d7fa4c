"""Flows (issue 17): a flow picker; per flow its KPIs over time and its waiting queues with
drill-down to the transactions behind them. New page; reads GET /api/v1/kpis and
GET /api/v1/flows/{flow}/waiting through the dashboard's API client."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import plotly.graph_objects as go
import streamlit as st

from dashboard import data
from dashboard.state import Filters
from dashboard.views.common import LINK, chart, table

TTL_S = 20


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _get(credential: str, path: str, **params: Any) -> dict[str, Any]:
    """A GET of the caller's client, cached per credential (as dashboard/data.py does)."""
    del credential  # part of the cache key only: answers never cross callers
    return data.client().get(path, **params)


def get(path: str, **params: Any) -> dict[str, Any]:
    """A cached GET of ``path`` for this page view's caller."""
    return _get(data.token(), path, **params)


def _age(ms: int | None) -> str:
    if ms is None:
        return "—"
    hours, rest = divmod(int(ms) // 60_000, 60)
    return f"{hours}h {rest:02d}m" if hours < 48 else f"{hours // 24}d {hours % 24}h"


def kpi_figure(series: dict[str, Any]) -> go.Figure:
    """One KPI over time: latency p50/p95/p99 (minutes), throughput rate, or failure rate (%)."""
    buckets = series["buckets"]
    x = [b["bucket"] for b in buckets]
    fig = go.Figure()
    if series["kind"] == "latency":
        for q in ("p50", "p95", "p99"):
            fig.add_scatter(x=x, y=[b[f"{q}_ms"] / 60_000 for b in buckets], name=q, mode="lines+markers")
        objective = series.get("objective") or {}
        if objective.get("target_ms"):
            fig.add_hline(y=objective["target_ms"] / 60_000, line_dash="dash", annotation_text="target")
        unit = "minutes"
    elif series["kind"] == "throughput":
        fig.add_bar(x=x, y=[b["rate"] for b in buckets], name="rate")
        unit = f"per {_age(series['per_ms'])}".replace(" 00m", "")
    else:
        fig.add_scatter(x=x, y=[100 * b["rate"] for b in buckets], name="failure rate", mode="lines+markers")
        objective = series.get("objective") or {}
        if objective.get("max_rate") is not None:
            fig.add_hline(y=100 * objective["max_rate"], line_dash="dash", annotation_text="objective")
        unit = "%"
    fig.update_layout(
        title=f"{series['name']} ({series['kind']})", yaxis_title=unit, height=300, margin={"t": 40, "b": 20}
    )
    return fig


def render(f: Filters) -> None:
    """Lay out the flows page."""
    st.header("Flows")
    kpis = get("/api/v1/kpis", since=f.since, bucket=f.bucket)["kpis"]
    flows = sorted({k["flow"] for k in kpis})
    default = f.flow if f.flow in flows else ("order_to_cash" if "order_to_cash" in flows else flows[0])
    flow = st.selectbox("Flow", flows, index=flows.index(default), key="flows_flow")
    st.subheader("KPIs")
    mine = [k for k in kpis if k["flow"] == flow]
    columns = st.columns(2)
    for i, series in enumerate(mine):
        with columns[i % 2]:
            if series["buckets"]:
                chart(kpi_figure(series), f"kpi_{flow}_{series['name']}")
            else:
                st.info(f"{series['name']}: no data in the last {f.range}.")
    st.subheader("Waiting queues")
    queues = get(f"/api/v1/flows/{quote(flow, safe='')}/waiting", since="7d", limit=200)["stages"]
    if not queues:
        st.info("This flow has a single stage: nothing waits.")
    metrics = st.columns(max(1, len(queues)))
    for column, q in zip(metrics, queues, strict=False):
        amounts = ", ".join(f"{a['amount']:,.2f} {a['currency'] or ''}".strip() for a in q["amounts"]) or "no amounts"
        column.metric(
            f"{q['stage']} (after {q['after']})",
            q["count"],
            help=f"completed {q['waiting_since_step']}, not {q['step']}",
            border=True,
        )
        column.caption(f"oldest {_age(q['oldest_age_ms'])} · {amounts}")
    for q in queues:
        with st.expander(f"{q['count']} waiting for {q['stage']} ({q['step']})", expanded=False):
            rows = [
                {
                    "business key": i["business_key"],
                    "amount": i["amount"],
                    "currency": i["currency"],
                    "system": i["system"],
                    "legal entity": i["legal_entity"],
                    "age": _age(i["age_ms"]),
                    "correlation ID": i["correlation_id"],
                    "lineage": f"?page=lineage&correlation_id={quote(i['correlation_id'], safe='')}",
                }
                for i in q["items"]
            ]
            table(rows, f"waiting_{flow}_{q['stage']}", "Nothing waiting.", lineage=LINK)
            if q["truncated"]:
                st.caption(f"Showing the oldest {len(rows)} of {q['count']}.")
