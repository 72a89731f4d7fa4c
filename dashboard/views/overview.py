"""Overview: the figures people ask first, each the total of the list behind it; money at risk;
the worst systems and regions. One call (``GET /api/v1/overview``) with the page's whole context;
every link carries that context, so a card and its list cannot disagree."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from dashboard import data, figures, formats, kpis
from dashboard.state import Filters, link
from dashboard.views.common import chart, context_notes, empty_text, freshness, kpi, narrowed, small_table

LIST = "list ↗"  # the text of a row's link to the list behind it
CARDS = ("open_exceptions", "stuck", "failed", "breached")


def fetch(f: Filters) -> dict[str, Any]:
    """The overview of the page's context."""
    return data.fetch("overview", **f.context(), bucket=f.bucket)


def drill(f: Filters, kind: str, **narrow: str) -> str:
    """The link to the list behind a figure: the whole context, the kind, and a narrowing."""
    return link(replace(f, page="drill", drill=kind, **narrow))


def money(doc: dict[str, Any], f: Filters) -> list[dict[str, Any]]:
    """Money at risk per kind and currency, as table rows."""
    return [
        {
            "what": kpis.RISK_LABELS[t["kind"]],
            "amount": formats.total(t["amount"], t["currency"]),
            "items": t["count"],
            "list": drill(f, t["kind"]),
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
            "list": drill(f, t["kind"], **{by: t["group"]}) if t["group"] else "",
        }
        for t in doc[f"by_{by}"]
    ]


def worst(rows: list[dict[str, Any]], f: Filters, by: str) -> list[dict[str, Any]]:
    """Systems or regions by open exceptions, with their money and the list behind each."""
    return [
        {
            by: r["group"] or "(none)",
            "open exceptions": r["count"],
            "money": kpis.money_line(r["amounts"]),
            "list": drill(f, "open_exceptions", **{by: r["group"]}) if r["group"] else "",
        }
        for r in rows
    ]


def slowest(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Regions by p95 posting latency over the window."""
    return [
        {
            "region": r["group"] or "(none)",
            "p95 posting latency": formats.format_ms(r["p95_ms"]),
            "postings": r["count"],
        }
        for r in rows
    ]


def render(f: Filters) -> None:
    """Lay out the overview."""
    st.header("Overview")
    now = datetime.now(UTC)
    doc = fetch(f)
    st.caption(f"Every figure below covers the {f.label}{narrowed(f)}; each list ↗ opens exactly its items.")
    context_notes(doc)
    if doc["truncated"]:
        st.warning("Some totals hit the store's row limit and miss items; narrow the time range or filters.")
    top, bottom = st.columns(3), st.columns(3)
    cards = doc["cards"]
    kpi(top[0], kpis.posting_p95(doc, f.bucket_delta, now), link(f, page="latency"))
    for column, kind in zip([*top[1:], *bottom[:2]], CARDS, strict=True):
        kpi(column, kpis.risk_card(kind, cards[kind], f.label), drill(f, kind))
    kpi(bottom[2], kpis.postings(doc, f.bucket, f.bucket_delta, now), link(f, page="latency"))
    st.subheader("Money at risk")
    risk = doc["money_at_risk"]
    small_table(
        money(risk, f),
        empty_text("Nothing at risk: no open exceptions, stuck, failed or breached transactions.", doc),
        list=LIST,
    )
    st.caption(
        f"Open exceptions seen in the {f.label} and stuck, failed or SLA-breached transactions started in "
        f"the {f.label}; amount of the entity or transaction."
    )
    for column, by in zip(st.columns(2), ("system", "region"), strict=True):
        with column:
            st.markdown(f"**Money at risk by {by}**")
            small_table(money_by(risk, f, by), empty_text("Nothing at risk.", doc), height=250, list=LIST)
    left, right = st.columns(2)
    with left:
        st.subheader("Worst systems (open exceptions)")
        small_table(worst(doc["worst_systems"], f, "system"), empty_text("No open exceptions.", doc), list=LIST)
    with right:
        st.subheader("Worst regions")
        small_table(worst(doc["worst_regions"], f, "region"), empty_text("No open exceptions.", doc), list=LIST)
        st.markdown("**Slowest regions (p95 posting latency)**")
        small_table(slowest(doc["slowest_regions"]), empty_text("No postings in this range.", doc))
    points = [
        {"bucket": b["bucket"], "stage": "postings", "completed": b["count"], "late": b.get("late", 0)}
        for b in doc["series"]
    ]
    done = kpis.complete(points, f.bucket_delta, now)
    chart(figures.throughput_lines(done, [b for b in points if b not in done]), "throughput")
    if note := figures.late_summary(points):
        st.caption(note)
    freshness(doc)
