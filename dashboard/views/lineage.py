"""Lineage explorer: one transaction's hops, entity graph, SLA verdicts, findings, exceptions."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import streamlit as st

from dashboard import data, figures, kpis
from dashboard.api import ApiError
from dashboard.state import Filters
from dashboard.views.common import chart, table
from dashboard.views.replays import replay_form, replay_rows


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


def _seal_badge(cid: str) -> None:
    try:
        status = data.fetch("seal_status", correlation_id=cid)
    except ApiError as exc:
        st.caption(f"Tamper evidence: not available ({exc})")
        return
    level, text = seal_message(status)
    getattr(st, level)(text)


def _transaction(doc: dict[str, Any], index: int) -> None:
    cid = doc["correlation_id"]
    st.subheader(f"Transaction {cid}")
    st.caption(
        f"flow {doc['flow']} · started {doc['started_at']} · completed {doc['completed_at'] or '—'} · "
        f"last activity {doc['last_activity_at']}"
    )
    cols = st.columns(4)
    cols[0].metric("Status", doc["status"], border=True)
    cols[1].metric("Hops", len(doc["hops"]), border=True)
    cols[2].metric("SLA", "BREACHED" if doc["sla"]["breached"] else "on time", border=True)
    cols[3].metric("Exceptions", len(doc["exceptions"]), border=True)
    _seal_badge(cid)
    chart(figures.hop_timeline(doc["hops"]), f"gantt_{index}")
    table(kpis.hop_rows(doc["hops"]), f"hops_{index}", "No hops.")
    left, right = st.columns(2)
    with left:
        chart(figures.entity_graph(doc), f"graph_{index}")
        for rel in doc["related"]:
            st.markdown(
                f"- stitched via {rel['via']}: [{rel['correlation_id']}]"
                f"(?page=lineage&correlation_id={rel['correlation_id']}) ({rel['status']})"
            )
    with right:
        st.markdown("**SLA verdict per stage**")
        table(kpis.sla_rows(doc["sla"]), f"sla_{index}", "No stages.")
        st.markdown("**Conformance findings**")
        table(doc["conformance"], f"conf_{index}", "No conformance findings.")
        st.markdown("**Amount findings**")
        table(doc["amount_mismatches"], f"amt_{index}", "No amount mismatches.")
        st.markdown("**Exceptions**")
        table(kpis.exception_rows(doc["exceptions"]), f"exc_{index}", "No exceptions.")
        st.markdown("**Replays**")
        table(replay_rows(doc.get("replays", [])), f"replays_{index}", "No replays.")
        replay_form([x for x in doc["exceptions"] if x["state"] != "resolved"], f"lineage_{index}")
    dl_json, dl_csv = st.columns(2)
    dl_json.download_button(
        "Download JSON", json.dumps(doc, indent=2), f"{cid}.json", "application/json", key=f"json_{index}"
    )
    dl_csv.download_button("Download CSV (hops)", to_csv(doc), f"{cid}.csv", "text/csv", key=f"csv_{index}")


def render(f: Filters) -> None:
    """Lay out the explorer."""
    st.header("Lineage explorer")
    query = st.text_input("Correlation ID or business key (e.g. invoice:INV-2026-0042)", key="q")
    if not query:
        st.info("Enter a correlation ID or a business key to see a transaction's lineage.")
        return
    st.query_params["q"] = query
    docs = data.lookup(query)
    if len(docs) > 1:
        st.caption(f"{len(docs)} transactions touched {query}.")
    for index, doc in enumerate(docs):
        _transaction(doc, index)
