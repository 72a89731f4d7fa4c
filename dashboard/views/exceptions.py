"""Exception backlog: open over time by category, age buckets, the list filtered by state and
category; pick rows to see their audit trail and to acknowledge or resolve them together."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import data, figures, formats, kpis, why_figures
from dashboard.api import ApiError
from dashboard.state import Filters
from dashboard.views import why
from dashboard.views.common import LINK, chart, context_notes, empty_text, freshness, lineage_link, table, when
from dashboard.views.replays import replay_form

STATES = ["open", "acknowledged", "resolved", "all"]


def narrow(doc: dict[str, Any], state: str, category: str) -> dict[str, Any] | None:
    """The answer of every state and category narrowed to ``state`` ("all": any) and ``category``
    as the API's filter would (lineage/sql/exceptions.py ``_EXC_FILTER``: the same rows in the same
    order); None when that answer was cut at its limit, so a narrower list may hold more."""
    if doc["truncated"]:
        return None
    rows = [
        e for e in doc["exceptions"] if state in ("all", e["state"]) and (not category or e["category"] == category)
    ]
    return doc | {"exceptions": rows}


def fetch(f: Filters, state: str, category: str) -> dict[str, Any]:
    """Exceptions seen in the page's time range in ``state`` ("all": any), filtered by the API on
    the whole context (category, system, region, legal entity; not per flow). One call for every
    state and category serves each list (and the category picker) unless it was cut at its limit."""
    every = data.fetch("exceptions", **f.context(), limit=5000)
    narrowed = narrow(every, state, category)
    if narrowed is not None:
        return narrowed
    return data.fetch("exceptions", state="" if state == "all" else state, category=category, **f.context(), limit=5000)


def listing(f: Filters, state: str, category: str) -> list[dict[str, Any]]:
    """The exceptions of :func:`fetch`."""
    rows: list[dict[str, Any]] = fetch(f, state, category)["exceptions"]
    return rows


def _filters(f: Filters) -> tuple[str, str]:
    left, right = st.columns(2)
    state = left.selectbox("State", STATES, index=STATES.index(f.state) if f.state in STATES else 0, key="exc_state")
    categories = sorted({e["category"] or "" for e in listing(f, "all", "")} - {""})
    options = ["", *categories] if f.category in ("", *categories) else ["", *categories, f.category]
    category = right.selectbox(
        "Category", options, index=options.index(f.category), key="exc_category", format_func=lambda c: c or "all"
    )
    st.query_params["state"] = state if state != "open" else ""
    st.query_params["category"] = category
    for name in ("state", "category"):
        if not st.query_params.get(name):
            del st.query_params[name]
    return state, category


def history(picked: list[dict[str, Any]]) -> None:
    """The audit trail of each picked exception."""
    for row in picked[:5]:
        try:
            doc = data.client().exception(row["id"])
        except ApiError as exc:
            st.error(str(exc))
            continue
        trail = doc.get("history") or []
        lines = [
            f"- {when(h['at'])} UTC · **{h['action']}** by {h['actor']}: {h['note'] or '(no note)'}" for h in trail
        ]
        tickets = ticket_links(doc)
        st.markdown(
            f"**Audit trail of {row['id']}** ({row['business key']}, now {doc['state']})"
            + (f" · tickets: {tickets}" if tickets else "")
            + "\n\n"
            + ("\n".join(lines) if lines else "No acknowledgement, resolution or replay recorded yet.")
        )
    if len(picked) > 5:
        st.caption(f"Audit trails of the first 5 of {len(picked)} picked exceptions shown.")


def ticket_links(doc: dict[str, Any]) -> str:
    """The exception's ServiceNow or Jira tickets as Markdown links (docs/tickets.md)."""
    return ", ".join(f"[{t['key']}]({t['url']}) ({t['receiver']})" for t in doc.get("tickets") or [])


def _act(picked: list[dict[str, Any]]) -> None:
    """Acknowledge or resolve the picked exceptions (nothing is picked by default)."""
    st.subheader("Acknowledge or resolve the picked exceptions")
    if not picked:
        st.info("Pick exceptions in the table (tick the boxes at the left) to acknowledge or resolve them.")
        return
    names = ", ".join(r["id"] for r in picked[:10]) + (" …" if len(picked) > 10 else "")
    with st.form("act", clear_on_submit=True):
        st.markdown(f"{len(picked)} picked: {names}")
        note = st.text_input("Note", key="act_note", placeholder="why (kept in the audit trail)")
        ack_col, resolve_col = st.columns(2)
        ack = ack_col.form_submit_button(f"Acknowledge {len(picked)}")
        resolve = resolve_col.form_submit_button(f"Resolve {len(picked)}")
    if not (ack or resolve):
        return
    done, failed = [], []
    for row in picked:
        try:
            done.append(data.client().act(row["id"], "ack" if ack else "resolve", note))
        except ApiError as exc:
            failed.append(f"{row['id']}: {exc}")
    data.invalidate()
    state = "acknowledged" if ack else "resolved"
    st.session_state["act_done"] = f"{len(done)} exception(s) now {state}: " + ", ".join(d["id"] for d in done)
    st.session_state["act_failed"] = failed
    st.rerun()


def render(f: Filters) -> None:
    """Lay out the backlog page."""
    st.header("Exception backlog")
    if done := st.session_state.pop("act_done", None):
        st.success(done)
    for failure in st.session_state.pop("act_failed", []):
        st.error(failure)
    data.prefetch(  # the page's two answers at once
        ("backlog", {**f.context(), "bucket": f.bucket}), ("exceptions", {**f.context(), "limit": 5000})
    )
    backlog = data.fetch("backlog", **f.context(), bucket=f.bucket)
    state, category = _filters(f)
    doc = fetch(f, state, category)
    context_notes(doc)
    rows = kpis.exception_rows(doc["exceptions"], lambda cid: lineage_link(f, cid))
    if doc["truncated"]:
        st.warning(f"The list was cut at {formats.count(len(rows))} exceptions; narrow the time range or filters.")
    label = "Open exceptions" if state == "open" else f"Exceptions ({state})"
    st.metric(f"{label} seen in the {f.label}", formats.count(len(rows)), border=True)
    left, right = st.columns([2, 1])
    with left:
        area = figures.backlog_area(backlog["series"])  # marked where the open "Why?" says failures rose
        chart(why_figures.mark_change(area, why.change_point(f, "failed")), "backlog_area")
    with right:
        chart(figures.age_bars(backlog["age_now"]), "backlog_age")
    st.subheader(f"Exceptions: {state}{f', {category}' if category else ''} (oldest first; click a header to sort)")
    picked_at = table(
        rows,
        f"exc_table_{state}_{category}",
        empty_text("No exceptions in this state.", doc),
        select=True,
        money={"amount": "currency"},
        durations=("age",),
        missing=formats.UNKNOWN_AMOUNT,
        lineage=LINK,
    )
    picked = [rows[i] for i in picked_at if i < len(rows)]
    history(picked)
    if data.may_act("acknowledge, resolve or replay exceptions"):  # the forms only for roles that may act
        _act([r for r in picked if r["state"] != "resolved"])
        replay_form(
            [e for e in listing(f, "open", "") if any(e["id"] == r["id"] for r in picked)] if picked else [],
            "backlog",
        )
    why.panel(f, "failed")
    freshness(backlog)
