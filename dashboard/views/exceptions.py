"""Exception backlog: open over time by category, age buckets, the open list with ack/resolve."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import data, figures, kpis
from dashboard.api import ApiError
from dashboard.state import Filters
from dashboard.views.common import LINK, chart, table
from dashboard.views.replays import replay_form


def _open(f: Filters) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = data.fetch("exceptions", state="open", system=f.system, since="30d", limit=5000)[
        "exceptions"
    ]
    return [r for r in rows if not f.region or r["region"] == f.region]


def _act(rows: list[dict[str, Any]]) -> None:
    """The acknowledge / resolve form."""
    st.subheader("Acknowledge or resolve")
    labels = {r["id"]: f"{r['id']} · {r['category']} · {r['entity']} · {r['age']}" for r in rows}
    with st.form("act", clear_on_submit=False):
        picked = st.selectbox("Exception", list(labels), format_func=labels.__getitem__, key="act_id")
        note = st.text_input("Note", key="act_note", placeholder="why")
        ack_col, resolve_col = st.columns(2)
        ack = ack_col.form_submit_button("Acknowledge")
        resolve = resolve_col.form_submit_button("Resolve")
    if not (ack or resolve) or picked is None:
        return
    try:
        done = data.client().act(picked, "ack" if ack else "resolve", note)
    except ApiError as exc:
        st.error(str(exc))
        return
    data.invalidate()
    st.session_state["act_done"] = f"Exception {done['id']} is now {done['state']}."
    st.rerun()


def render(f: Filters) -> None:
    """Lay out the backlog page."""
    st.header("Exception backlog")
    if done := st.session_state.pop("act_done", None):
        st.success(done)
    backlog = data.fetch("backlog", since=f.since, bucket=f.bucket)
    rows = kpis.exception_rows(_open(f))
    st.metric("Open exceptions", len(rows), border=True)
    left, right = st.columns([2, 1])
    with left:
        chart(figures.backlog_area(backlog["series"]), "backlog_area")
    with right:
        chart(figures.age_bars(backlog["age_now"]), "backlog_age")
    st.subheader("Open exceptions (oldest first; click a header to sort)")
    table(
        rows,
        "open_table",
        "No open exceptions.",
        lineage=LINK,
        age_h=st.column_config.NumberColumn("age (h)", format="%.2f"),
    )
    if rows and data.may("act"):  # the form only for roles that may acknowledge and resolve
        _act(rows)
        replay_form(_open(f), "backlog")
