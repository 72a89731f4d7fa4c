"""Flows (issue 17): a flow picker; per flow its KPIs over time and its waiting queues with
drill-down to the transactions behind them. New page; reads GET /api/v1/kpis and
GET /api/v1/flows/{flow}/waiting through the dashboard's API client."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import streamlit as st

from dashboard import data, formats
from dashboard.figures import late_summary
from dashboard.flow_figures import failure_summary, kpi_figure
from dashboard.state import Filters
from dashboard.views import why
from dashboard.views.common import LINK, chart, context_notes, freshness, lineage_link, table
from dashboard.why_figures import mark_change


def get(path: str, **params: Any) -> dict[str, Any]:
    """A GET of ``path`` for this page view's caller, cached as every answer is (dashboard/data.py)."""
    return data.fetch("get", path=path, **params)


def _follow() -> None:
    """The page's flow picker is the sidebar's flow filter (``flow=`` in the URL): a callback runs
    before the next script run, so the sidebar widget may still be set."""
    st.session_state["flow"] = st.session_state["flows_flow"]


def pick_flow(f: Filters, flows: list[str]) -> str:
    """The flow picker, starting from the URL's ``flow`` (else order_to_cash, else the first)."""
    default = f.flow if f.flow in flows else ("order_to_cash" if "order_to_cash" in flows else flows[0])
    st.session_state["flows_flow"] = default
    picked: str = st.selectbox("Flow", flows, key="flows_flow", on_change=_follow)
    return picked


def render(f: Filters) -> None:
    """Lay out the flows page."""
    st.header("Flows")
    flows = data.flow_names()
    if not flows:
        st.info("The API names no flows.")
        return
    flow = pick_flow(f, flows)
    context = {**f.context(), "flow": flow}
    kpi_call = {"path": "/api/v1/kpis", **context, "bucket": f.bucket}
    # the waiting route names its flow in the path and takes no flow parameter (the API refuses one)
    in_path = {k: v for k, v in context.items() if k != "flow"}
    waiting_call = {"path": f"/api/v1/flows/{quote(flow, safe='')}/waiting", **in_path, "limit": 200}
    data.prefetch(("get", kpi_call), ("get", waiting_call))  # the page's two answers at once
    doc, waiting = data.fetch("get", **kpi_call), data.fetch("get", **waiting_call)
    context_notes(doc, waiting)
    st.subheader("KPIs")
    mine = doc["kpis"]
    columns = st.columns(2)
    now = datetime.now(UTC)
    for i, series in enumerate(mine):
        with columns[i % 2]:
            if series["buckets"]:
                fig = kpi_figure(series, f.bucket_delta, now)
                if series["kind"] == "failure_rate":  # where the open "Why?" says failures rose
                    fig = mark_change(fig, why.change_point(f, "failed", flow=flow))
                chart(fig, f"kpi_{flow}_{series['name']}")
                if series["kind"] == "failure_rate":
                    st.caption(failure_summary(series, f.label))
                if note := late_summary(series["buckets"]):
                    st.caption(note)
            else:
                st.info(f"{series['name']}: no data in the {f.label}.")
    st.subheader(f"Waiting queues (previous stage completed in the {f.label})")
    queues = waiting["stages"]
    if not queues:
        st.info("This flow has a single stage: nothing waits.")
    metrics = st.columns(max(1, len(queues)))
    for column, q in zip(metrics, queues, strict=False):
        amounts = ", ".join(formats.total(a["amount"], a["currency"]) for a in q["amounts"]) or "no amounts"
        column.metric(
            f"{q['stage']} (after {q['after']})",
            formats.count(q["count"]),
            help=f"completed {q['waiting_since_step']}, not {q['step']}",
            border=True,
        )
        column.caption(f"oldest {formats.format_ms(q['oldest_age_ms'])} · {amounts}")
    for q in queues:
        with st.expander(f"{formats.count(q['count'])} waiting for {q['stage']} ({q['step']})", expanded=False):
            rows = [
                {
                    "business key": i["business_key"],
                    "amount": i["amount"],
                    "currency": i["currency"],
                    "system": i["system"],
                    "legal entity": i["legal_entity"],
                    "age": i["age_ms"],
                    "correlation ID": i["correlation_id"],
                    "lineage": lineage_link(f, i["correlation_id"]),
                }
                for i in q["items"]
            ]
            table(
                rows,
                f"waiting_{flow}_{q['stage']}",
                "Nothing waiting.",
                money={"amount": "currency"},
                durations=("age",),
                missing=formats.UNKNOWN_AMOUNT,
                lineage=LINK,
            )
            if q["truncated"]:
                st.caption(f"Showing the oldest {formats.count(len(rows))} of {formats.count(q['count'])}.")
    why.panel(f, "failed", flow=flow)
    freshness(doc, waiting)
