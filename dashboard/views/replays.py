"""Replays: the approval queue, replay states, and the replay form the exception backlog and
the lineage explorer share. The API records the caller's identity as the actor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import streamlit as st

from dashboard import data, formats
from dashboard.api import ApiError
from dashboard.state import Filters
from dashboard.views.common import lineage_link, table

ACTIVE = ("awaiting_approval", "approved", "sent", "delivered")


def _plain(correlation_id: str) -> str:
    return f"?page=lineage&correlation_id={correlation_id}"


def replay_rows(replays: list[dict[str, Any]], lineage: Callable[[str], str] = _plain) -> list[dict[str, Any]]:
    """Replays as table rows; ``lineage`` makes a row's lineage link (the page's context kept)."""
    return [
        {
            "id": r["id"],
            "state": r["state"],
            "entity": f"{r['entity_type']}:{r['entity_id']}",
            "step": r["step"],
            "system": r["system"],
            "amount": r["amount"],
            "currency": r["currency"],
            "requested_by": r["requested_by"],
            "approved_by": r["approved_by"] or "",
            "attempts": r["attempts"],
            "reason": r["reason"],
            "last_error": r["last_error"] or "",
            "lineage": lineage(r["correlation_id"]),
        }
        for r in replays
    ]


def _post(path: str, body: dict[str, Any], done: str) -> None:
    try:
        answer = data.client().post(path, body)
    except ApiError as exc:
        st.error(str(exc))
        return
    data.invalidate()
    st.session_state["replay_done"] = done.format(**answer)
    st.rerun()


def replay_form(exceptions: list[dict[str, Any]], key: str) -> None:
    """Pick an open exception and replay it with a reason (roles that may act; others get a note)."""
    if done := st.session_state.pop("replay_done", None):  # the answer to the last request, on this page
        st.success(done)
    labels = {e["id"]: f"{e['id']} · {e['category']} · {e['entity_type']}:{e['entity_id']}" for e in exceptions}
    if not labels or not data.may_act("request replays"):
        return
    with st.form(f"replay_{key}"):
        st.markdown("**Replay a failed hop** (the owning system retries it; no double postings)")
        picked = st.selectbox("Exception", list(labels), format_func=labels.__getitem__, key=f"replay_id_{key}")
        reason = st.text_input("Reason", key=f"replay_reason_{key}", placeholder="why (kept in the audit trail)")
        go = st.form_submit_button("Replay")
    if go and picked:
        path = f"/api/v1/exceptions/{quote(picked, safe='')}/replay"
        _post(path, {"reason": reason}, "Replay {id} is {state}.")


def replay_table(replays: list[dict[str, Any]], key: str, empty: str, lineage: Callable[[str], str] = _plain) -> None:
    """Replays as a table: amounts in their currency, each row linked to its lineage."""
    table(
        replay_rows(replays, lineage),
        key,
        empty,
        money={"amount": "currency"},
        missing=formats.UNKNOWN_AMOUNT,
        lineage=st.column_config.LinkColumn(),
    )


def _queue(f: Filters, waiting: list[dict[str, Any]]) -> None:
    st.subheader("Approval queue")
    replay_table(waiting, "replay_queue", "Nothing awaits approval.", lambda cid: lineage_link(f, cid))
    if not waiting or not data.may_act("approve or cancel replays"):
        return
    with st.form("approve"):
        picked = st.selectbox("Replay", [r["id"] for r in waiting], key="approve_id")
        note = st.text_input("Note", key="approve_note")
        approve_col, cancel_col = st.columns(2)
        approve = approve_col.form_submit_button("Approve")
        cancel = cancel_col.form_submit_button("Cancel")
    if (approve or cancel) and picked:
        action = "approve" if approve else "cancel"
        _post(f"/api/v1/replays/{picked}/{action}", {"note": note}, "Replay {id} is {state}.")


def render(f: Filters) -> None:
    """Lay out the replays page."""
    st.header("Replays")
    if done := st.session_state.pop("replay_done", None):
        st.success(done)
    replays = data.fetch("replays", system=f.system, limit=1000)["replays"]
    counts = {s: sum(r["state"] == s for r in replays) for s in (*ACTIVE, "confirmed", "failed")}
    for column, (state, n) in zip(st.columns(len(counts)), counts.items(), strict=True):
        column.metric(state.replace("_", " "), formats.count(n), border=True)
    _queue(f, [r for r in replays if r["state"] == "awaiting_approval"])
    st.subheader("All replays (newest first)")
    replay_table(replays, "replay_table", "No replays yet.", lambda cid: lineage_link(f, cid))
