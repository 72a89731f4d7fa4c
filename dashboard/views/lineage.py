"""Lineage explorer: one transaction's hop timeline, entity graph, SLA verdicts, findings,
exceptions (acknowledge, replay) and tamper evidence."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import streamlit as st

from dashboard import data, formats, kpis, timeline
from dashboard.api import ApiError
from dashboard.figures import STATUS_COLORS
from dashboard.state import Filters
from dashboard.views.common import chart, freshness, table, when
from dashboard.views.replays import replay_form, replay_table

PAGE_ROWS = 50


def to_csv(doc: dict[str, Any]) -> str:
    """The transaction's hops as CSV."""
    rows = kpis.hop_rows(doc["hops"])
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["correlation_id"])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def seal_message(status: dict[str, Any]) -> tuple[str, str]:
    """(level, text) of the tamper-evidence badge from the seal-status route."""
    if status["verified"]:
        return "success", f"Sealed and verified: all {status['hops']} hops are in signed seals and the evidence checks."
    if status["check"]:
        return "error", f"Evidence does NOT verify: {status['check']}"
    return "info", f"Sealing in progress: {status['sealed']} of {status['hops']} hops sealed so far."


def left_out(doc: dict[str, Any]) -> list[str]:
    """What the API left out of this document, in words (empty when nothing)."""
    notes = []
    if doc.get("hops_truncated"):
        notes.append(f"only the first {len(doc['hops'])} hops are shown (the API's hop limit)")
    if doc.get("withheld_hops"):
        notes.append(f"{doc['withheld_hops']} hops withheld (outside your scope)")
    if doc.get("edges_omitted"):
        notes.append(f"{doc['edges_omitted']} more entity edges left out")
    if doc.get("related_omitted"):
        notes.append(f"{doc['related_omitted']} more stitched transactions left out (depth/fan-out limits)")
    return notes


def _seal_badge(cid: str) -> None:
    try:
        status = data.fetch("seal_status", correlation_id=cid)
    except ApiError as exc:
        st.caption(f"Tamper evidence: not available ({exc})")
        return
    level, text = seal_message(status)
    getattr(st, level)(text)


def _badge(label: str, value: str) -> str:
    color = STATUS_COLORS.get(value, "#546e7a")
    return f"{label} <span style='background:{color};color:white;padding:2px 8px;border-radius:4px'>{value}</span>"


def _nodes(doc: dict[str, Any], index: int) -> None:
    """Entities in a paged table when the graph groups them."""
    nodes = doc["nodes"]
    if len(nodes) <= timeline.MAX_NODES:
        return
    pages = -(-len(nodes) // PAGE_ROWS)
    page = st.number_input(f"Entities, page (of {pages})", 1, pages, 1, key=f"nodes_page_{index}")
    start = (int(page) - 1) * PAGE_ROWS
    table(nodes[start : start + PAGE_ROWS], f"nodes_{index}_{page}", "No entities.")


def _act(doc: dict[str, Any], index: int) -> None:
    """Acknowledge an open exception of this transaction (operators)."""
    opened = [x for x in doc["exceptions"] if x["state"] == "open"]
    if not opened or not data.may_act("acknowledge exceptions"):
        return
    labels = {x["id"]: f"{x['id']} · {x['category']} · {x['entity_type']}:{x['entity_id']}" for x in opened}
    with st.form(f"ack_{index}"):
        st.markdown("**Acknowledge an exception**")
        picked = st.selectbox(
            "Exception", list(labels), format_func=labels.__getitem__, index=None, key=f"ack_id_{index}"
        )
        note = st.text_input("Note", key=f"ack_note_{index}")
        go = st.form_submit_button("Acknowledge")
    if go and picked:
        try:
            done = data.client().act(picked, "ack", note)
        except ApiError as exc:
            st.error(str(exc))
            return
        data.invalidate()
        st.session_state["lineage_done"] = f"Exception {done['id']} is now {done['state']}."
        st.rerun()


def _transaction(doc: dict[str, Any], index: int) -> None:
    cid = doc["correlation_id"]
    st.subheader(f"Transaction {cid}")
    st.caption(
        f"flow {doc['flow']} · started {when(doc['started_at'])} · completed {when(doc['completed_at'])} · "
        f"last activity {when(doc['last_activity_at'])} (UTC)"
    )
    verdict = "BREACHED" if doc["sla"]["breached"] else "ok"
    st.markdown(" &nbsp; ".join([_badge("Status", doc["status"]), _badge("SLA", verdict)]), unsafe_allow_html=True)
    cols = st.columns(4)
    cols[0].metric("Status", doc["status"], border=True)
    cols[1].metric("Hops", formats.count(len(doc["hops"])), border=True)
    cols[2].metric("SLA", "BREACHED" if doc["sla"]["breached"] else "on time", border=True)
    cols[3].metric("Exceptions", formats.count(len(doc["exceptions"])), border=True)
    for note in left_out(doc):
        st.warning(f"Not everything is shown: {note}.")
    _seal_badge(cid)
    chart(timeline.hop_timeline(doc["hops"]), f"gantt_{index}")
    table(
        kpis.hop_rows(doc["hops"]),
        f"hops_{index}",
        "No hops.",
        money={"amount": "currency"},
        durations=("duration_ms",),
        missing=formats.UNKNOWN_AMOUNT,
    )
    left, right = st.columns(2)
    with left:
        chart(timeline.entity_graph(doc), f"graph_{index}")
        _nodes(doc, index)
        for rel in doc["related"]:
            st.markdown(
                f"- stitched via {rel['via']}: [{rel['correlation_id']}]"
                f"(?page=lineage&correlation_id={rel['correlation_id']}) ({rel['status'] or '—'})"
            )
    with right:
        st.markdown("**SLA verdict per stage**")
        table(
            kpis.sla_rows(doc["sla"], doc["hops"]), f"sla_{index}", "No stages.", durations=("SLA", "took", "time left")
        )
        st.markdown("**Conformance findings**")
        table(doc["conformance"], f"conf_{index}", "No conformance findings.")
        st.markdown("**Amount findings**")
        table(
            doc["amount_mismatches"],
            f"amt_{index}",
            "No amount mismatches.",
            money={"amount": "currency", "expected_amount": "expected_currency"},
            missing=formats.UNKNOWN_AMOUNT,
        )
        st.markdown("**Exceptions**")
        table(
            kpis.exception_rows(doc["exceptions"]), f"exc_{index}", "No exceptions.", durations=("age",), lineage=None
        )
        _act(doc, index)
        st.markdown("**Replays**")
        replay_table(doc.get("replays", []), f"replays_{index}", "No replays.")
        replay_form([x for x in doc["exceptions"] if x["state"] != "resolved"], f"lineage_{index}")
    dl_json, dl_csv = st.columns(2)
    dl_json.download_button(
        "Download JSON", json.dumps(doc, indent=2), f"{cid}.json", "application/json", key=f"json_{index}"
    )
    dl_csv.download_button("Download CSV (hops)", to_csv(doc), f"{cid}.csv", "text/csv", key=f"csv_{index}")


def find(query: str) -> tuple[list[dict[str, Any]], str]:
    """Transactions for a correlation ID or business key (one API call, one access-log entry), and a
    hint naming the business key a bare key was found as."""
    try:
        found = data.lookup(query)
    except ApiError as exc:
        if exc.status != 404:
            raise
        raise ApiError(
            f"Nothing found for {query!r}: it is no correlation ID and no business key you may see. "
            "Business keys take a type prefix where a key is ambiguous, e.g. invoice:INV-2026-0042.",
            404,
        ) from None
    keys = found["keys"]
    hint = ""
    if found["found_as"] == "business_key" and ":" not in query:
        hint = f"Found {query} as the business key {', '.join(keys)}."
    return found["transactions"], hint


def render(f: Filters) -> None:
    """Lay out the explorer."""
    st.header("Lineage explorer")
    if done := st.session_state.pop("lineage_done", None):
        st.success(done)
    query = st.text_input("Correlation ID or business key (e.g. invoice:INV-2026-0042)", key="q")
    if not query:
        st.info("Enter a correlation ID or a business key to see a transaction's lineage.")
        return
    st.query_params["q"] = query
    docs, hint = find(query)
    if hint:
        st.info(hint)
    if len(docs) > 1:
        st.caption(f"{len(docs)} transactions touched {query}.")
    for index, doc in enumerate(docs):
        _transaction(doc, index)
    freshness()
