"""Overview: the figures people ask first, each with its trend and the list behind it; money at
risk; the worst systems and regions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from dashboard import data, figures, formats, kpis
from dashboard.state import Filters, link
from dashboard.views.common import chart, freshness, kpi, not_filtered, small_table
from dashboard.views.latency import latency, narrowed_by

LIST = "list ↗"  # the text of a row's link to the list behind it


def _open_exceptions(f: Filters) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = data.fetch("exceptions", state="open", system=f.system, since="30d", limit=5000)[
        "exceptions"
    ]
    return [r for r in rows if not f.region or r["region"] == f.region]


def throughput(f: Filters) -> dict[str, Any]:
    """Throughput narrowed server side by system or region (the API's group_by), when set."""
    narrow = ("system", f.system) if f.system else ("region", f.region) if f.region else None
    doc = data.fetch(
        "throughput", since=f.since, until=f.until, bucket=f.bucket, flow=f.flow, group_by=narrow[0] if narrow else ""
    )
    if narrow:
        return {**doc, "buckets": [b for b in doc["buckets"] if b["group"] == narrow[1]]}
    return doc


def money(doc: dict[str, Any], f: Filters) -> list[dict[str, Any]]:
    """Money at risk per kind and currency, as table rows."""
    return [
        {
            "what": kpis.RISK_LABELS[t["kind"]],
            "amount": formats.total(t["amount"], t["currency"]),
            "items": t["count"],
            "list": link(replace(f, page="drill", drill=t["kind"])),
        }
        for t in doc["totals"]
    ]


def money_by(doc: dict[str, Any], f: Filters, by: str) -> list[dict[str, Any]]:
    """Money at risk per ``by`` (system or region), kind and currency (the API's order: by kind,
    largest first); each row links to its drill-down list narrowed to that system or region
    (no link for items without one)."""
    return [
        {
            by: t["group"] or "(none)",
            "what": kpis.RISK_LABELS[t["kind"]],
            "amount": formats.total(t["amount"], t["currency"]),
            "items": t["count"],
            "list": link(replace(f, page="drill", drill=t["kind"], **{by: t["group"]})) if t["group"] else "",
        }
        for t in doc[f"by_{by}"]
    ]


def render(f: Filters) -> None:
    """Lay out the overview."""
    st.header("Overview")
    now = datetime.now(UTC)
    narrow = ("system", f.system) if f.system else ("region", f.region) if f.region else None
    window = {"since": f.since, "until": f.until}
    lat = narrowed_by(f)
    data.prefetch(  # every answer below at once, not one after the other
        ("backlog", {**window, "bucket": f.bucket}),
        ("breaches", {"since": "48h", "flow": f.flow, "limit": 5000}),
        (
            "transactions",
            {"status": "stuck", **window, "flow": f.flow, "system": f.system, "region": f.region, "limit": 5000},
        ),
        ("throughput", {**window, "bucket": f.bucket, "flow": f.flow, "group_by": narrow[0] if narrow else ""}),
        ("exceptions", {"state": "open", "system": f.system, "since": "30d", "limit": 5000}),
        ("at_risk", {**window, "system": f.system, "region": f.region, "flow": f.flow, "limit": 1}),
        ("posting_latency", {**window, "bucket": f.bucket, "flow": f.flow, "group_by": "region"}),
        ("systems", {"since": "7d"}),
        ("posting_latency", {**window, "bucket": f.bucket, "flow": f.flow, "group_by": lat[0] if lat else ""}),
    )
    backlog = data.fetch("backlog", since=f.since, until=f.until, bucket=f.bucket)
    breaches = data.fetch("breaches", since="48h", flow=f.flow, limit=5000)
    stuck = data.fetch(
        "transactions",
        status="stuck",
        since=f.since,
        until=f.until,
        flow=f.flow,
        system=f.system,
        region=f.region,
        limit=5000,
    )
    tput = throughput(f)
    done = kpis.complete(tput["buckets"], f.bucket_delta, now)
    open_rows = _open_exceptions(f)
    to = {"system": f.system, "region": f.region, "flow": f.flow}
    cols = st.columns(5)
    kpi(cols[0], kpis.latency_p95(latency(f, f.bucket), f.bucket_delta, now), link(f, page="latency"))
    # the backlog series cannot be narrowed by system or region: no trend then
    kpi(
        cols[1],
        kpis.open_exceptions(len(open_rows), [] if f.system or f.region else backlog["series"]),
        link(Filters(**to), page="drill", drill="open_exceptions"),
    )
    kpi(cols[2], kpis.breaches_today(breaches["breaches"], now), link(Filters(**to), page="drill", drill="breached"))
    kpi(cols[3], kpis.stuck(stuck["transactions"]), link(Filters(**to), page="drill", drill="stuck"))
    kpi(cols[4], kpis.throughput(done, f.bucket), link(f, page="overview"))
    if note := not_filtered(f, "system", "region"):
        st.caption(f"SLA breaches today: {note}")
    st.subheader("Money at risk")
    risk = data.fetch("at_risk", since=f.since, until=f.until, system=f.system, region=f.region, flow=f.flow, limit=1)
    small_table(
        money(risk, f), "Nothing at risk: no open exceptions, stuck, failed or breached transactions.", list=LIST
    )
    st.caption(
        f"Open exceptions seen in the {f.label} (not narrowed by flow) and stuck, failed or SLA-breached "
        f"transactions started in the {f.label}; amount of the entity or transaction."
    )
    for column, by in zip(st.columns(2), ("system", "region"), strict=True):
        with column:
            st.markdown(f"**Money at risk by {by}**")
            small_table(money_by(risk, f, by), "Nothing at risk.", height=250, list=LIST)
    left, right = st.columns(2)
    with left:
        st.subheader("Worst systems (open exceptions)")
        rows = kpis.worst(open_rows, "system")
        for r in rows:
            r["list"] = link(Filters(system=r["system"], region=f.region), page="drill", drill="open_exceptions")
        small_table(rows, "No open exceptions.", list=LIST)
    with right:
        st.subheader("Worst regions")
        rows = kpis.worst(open_rows, "region")
        for r in rows:
            r["list"] = link(Filters(system=f.system, region=r["region"]), page="drill", drill="open_exceptions")
        small_table(rows, "No open exceptions.", list=LIST)
        st.markdown("**Slowest regions (p95 posting latency)**")
        by_region = data.fetch(
            "posting_latency", since=f.since, until=f.until, bucket=f.bucket, flow=f.flow, group_by="region"
        )
        rows = kpis.worst_latency([b for b in by_region["buckets"] if not f.region or b["group"] == f.region])
        small_table(rows, "No postings in this range.")
        if note := not_filtered(f, "system"):
            st.caption(note)
    filling = [b for b in tput["buckets"] if b not in done]
    chart(figures.throughput_lines(done, filling), "throughput")
    freshness(backlog, breaches, stuck, tput)
