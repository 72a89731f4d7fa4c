"""Period close: each legal entity's close gate for a period (status, deadline, blocking money),
its blocking lists (each row to lineage), sign-off and the certificate download."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import streamlit as st

from dashboard import data, formats
from dashboard.api import ApiError
from dashboard.state import Filters
from dashboard.views.common import lineage_link, small_table, url_picker

GROUPS = {
    "not_posted": "Issued, not posted to the ledger",
    "cut_off": "Cut-off breaks (posted after the period)",
    "open_exceptions": "Open exceptions of the period",
    "replays": "Replays awaiting approval or in flight",
    "reconciliation_breaks": "Reconciliation breaks of the period",
    "missing_journals": "Expected batch journals not arrived",
    "unsealed": "Hops not sealed yet",
}
STATUS = {
    "open": "🔵 open",
    "blocked": "🔴 blocked",
    "ready": "🟢 ready",
    "signed": "✅ signed",
    "decertified": "🟠 decertified",
}


def recent_periods(today: datetime, n: int = 3) -> list[str]:
    """The last ``n`` months before ``today``'s, newest first, then today's (still open)."""
    out, year, month = [], today.year, today.month
    for _ in range(n):
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        out.append(f"{year:04d}-{month:02d}")
    return [*out, f"{today.year:04d}-{today.month:02d}"]


def _money(group: dict[str, Any]) -> str:
    return ", ".join(formats.money(m["amount"], m["currency"]) for m in group["money"]) or formats.NONE


def gate_rows(gates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per legal entity: status, deadline, days left, and each group's count and money."""
    return [
        {
            "legal entity": g["legal_entity"],
            "status": STATUS.get(g["status"], g["status"]),
            "deadline": g["deadline"].replace("T", " ").replace(":00Z", " UTC"),
            "days left": g["days_to_deadline"],
            "blocking": ", ".join(GROUPS[b].split(" (")[0].lower() for b in g["blocking"]) or formats.NONE,
            **{
                f"{name.replace('_', ' ')}": f"{g['groups'][name]['count']} · {_money(g['groups'][name])}"
                for name in GROUPS
            },
        }
        for g in gates
    ]


def item_rows(f: Filters, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A group's items with their money and a lineage link."""
    return [
        {
            "business key": i.get("business_key") or i.get("exception_id") or i.get("id", ""),
            "amount": formats.amount(i.get("amount"), i.get("currency")),
            "currency": i.get("currency") or formats.NONE,
            "lineage": lineage_link(f, i["correlation_id"]) if i.get("correlation_id") else "",
        }
        for i in items
    ]


def _sign(gate: dict[str, Any]) -> None:
    """Prepare or review (roles that may act); the API enforces readiness and four-eyes."""
    le, period = gate["legal_entity"], gate["period"]
    rounds = (gate.get("sign_off") or {}).get("rounds", [])
    pending = bool(rounds) and rounds[-1]["action"] == "prepared"
    if gate["status"] not in ("ready",) or not data.may_act("sign off a period", "close", "controllers and admins"):
        return
    label = f"Review and sign {le} {period}" if pending else f"Prepare {le} {period} for sign-off"
    if st.button(label, key=f"sign_{le}_{period}"):
        path = f"/api/v1/close/{quote(le, safe='')}/{quote(period)}/{'review' if pending else 'prepare'}"
        try:
            answer = data.client().post(path)
        except ApiError as exc:
            st.error(str(exc))
            return
        data.invalidate()
        st.session_state["close_done"] = f"{le} {period}: {answer['status']}"
        st.rerun()


def _certificate(gate: dict[str, Any]) -> None:
    if gate["status"] not in ("signed", "decertified"):
        return
    le, period = gate["legal_entity"], gate["period"]
    try:
        cert = data.client().get(f"/api/v1/close/{quote(le, safe='')}/{quote(period)}/certificate")
    except ApiError as exc:
        st.error(str(exc))
        return
    st.download_button(
        f"Download the {le} {period} certificate", json.dumps(cert, indent=2), f"close-{le}-{period}.json",
        mime="application/json", key=f"cert_{le}_{period}",
    )  # fmt: skip


def changed_hops(f: Filters, hops: dict[str, Any]) -> list[dict[str, Any]]:
    """The period's hops added, removed or altered since sign-off (the API's first 100 of each),
    each to its lineage where its correlation ID is known."""
    return [
        {
            "change": change,
            "hop": f"{h['trace_id']}/{h['span_id']}",
            "lineage": lineage_link(f, h["correlation_id"]) if h.get("correlation_id") else None,
        }
        for change in ("added", "removed", "altered")
        for h in (hops.get(change) or {}).get("items", [])
    ]


def render(f: Filters) -> None:
    """Lay out the close page."""
    st.header("Period close")
    if done := st.session_state.pop("close_done", None):
        st.success(done)
    periods = recent_periods(datetime.now(UTC))
    period = url_picker("Period", periods, "period", f.period or periods[0])
    doc = data.fetch("close_gates", period=period)
    gates = doc["gates"]
    if not gates:
        st.info("No legal entity of the close calendar is in your scope (LEDGERLINE_CLOSE, docs/close.md).")
        return
    small_table(gate_rows(gates), "")
    st.caption(
        "A group blocks above its currency's materiality, with an item of unknown amount, or (hops, replays) when "
        "not empty; ready means nothing blocks once the period has ended. Periods are cut in each entity's time zone."
    )
    for gate in gates:
        status, days = STATUS.get(gate["status"], gate["status"]), formats.count(gate["days_to_deadline"])
        title = f"{gate['legal_entity']} · {status} · {days} days to the deadline"
        with st.expander(title, expanded=gate["status"] in ("blocked", "decertified")):
            changed = (gate.get("sign_off") or {}).get("changed") or []
            if gate["status"] == "decertified":
                st.warning(f"Decertified after sign-off: changed since the certificate: {', '.join(changed)}.")
                hop_rows = changed_hops(f, (gate.get("sign_off") or {}).get("hops") or {})
                if hop_rows:
                    st.markdown("**Hops changed since sign-off**")
                    small_table(hop_rows, "", lineage="open ↗")
            for name, label in GROUPS.items():
                group = gate["groups"][name]
                if not group["count"]:
                    continue
                flag = "blocks" if group["blocking"] else "below materiality"
                st.markdown(f"**{label}**: {formats.count(group['count'])} · {_money(group)} ({flag})")
                if group["items"]:
                    small_table(item_rows(f, group["items"]), "", lineage="open ↗")
                if group["truncated"]:
                    st.caption("More than listed; the count and money cover all.")
            malformed = gate.get("malformed_business_dates") or {}
            if malformed.get("count"):
                st.markdown(f"**Unreadable business dates** (counted by hop time): {formats.count(malformed['count'])}")
                small_table(
                    [
                        {"business key": m["business_key"], "problem": "; ".join(m["problems"]),
                         "lineage": lineage_link(f, m["correlation_id"])}
                        for m in malformed["items"]
                    ],
                    "",
                    lineage="open ↗",
                )  # fmt: skip
            rounds = (gate.get("sign_off") or {}).get("rounds", [])
            if rounds:
                st.markdown("**Sign-off on record**")
                small_table(
                    [{"round": r["round"], "action": r["action"], "by": r["subject"], "at": r["at"]} for r in rounds],
                    "",
                )
            _sign(gate)
            _certificate(gate)
