"""Alerts: firing and pending alerts with their examples and links, rule health, silences,
and creating or expiring a silence (operators). Reads the API's alerts routes only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import streamlit as st

from dashboard import data, formats
from dashboard.api import ApiError
from dashboard.state import Filters, carry
from dashboard.views.common import freshness, lineage_link, table

DURATIONS = {"1 hour": timedelta(hours=1), "4 hours": timedelta(hours=4), "1 day": timedelta(days=1)}
ORDER = {"firing": 0, "pending": 1, "resolved": 2}
OPEN = st.column_config.LinkColumn("dashboard", display_text="open ↗", help="The page the rule links to")
# alerts.routing.EXAMPLE_RECEIVERS (the dashboard reads the API only, so it keeps its own copy)
ADD_RECEIVER = (
    'LEDGERLINE_ALERT_RECEIVERS=\'{receivers: [{name: hook, type: webhook, url: "https://example.com/hook"}], '
    "route: {receiver: hook}}'"
)


def receivers_note(doc: dict[str, Any]) -> str:
    """Where firing alerts are sent, or that they go nowhere and how to add a receiver."""
    if "receivers" not in doc:  # an older API does not say
        return ""
    if not doc["receivers"]:
        return (
            "**No alert receiver is configured: firing alerts are listed here and sent nowhere** (no webhook, "
            "Slack, PagerDuty or Alertmanager). To add one, start the server with e.g.\n\n"
            f"    {ADD_RECEIVER} ledgerline serve\n\n"
            "(receivers and routes: docs/alerts.md)."
        )
    return f"Notifications go to the receivers {', '.join(doc['receivers'])} (as routed by the server)."


def alert_rows(alerts: list[dict[str, Any]], f: Filters) -> list[dict[str, Any]]:
    """Alerts as table rows: firing first, then pending, then recently resolved; each alert's
    dashboard link keeps the viewer's time range and filters under the alert's own."""
    rows = []
    for a in sorted(alerts, key=lambda a: (ORDER.get(a["state"], 3), a["labels"].get("alertname", ""))):
        labels = {k: v for k, v in a["labels"].items() if k not in ("alertname", "severity", "team")}
        silenced = a["status"]["silencedBy"]
        rows.append(
            {
                "dashboard": carry(f, url) if (url := a["annotations"].get("dashboard_url")) else None,
                "state": a["state"] + (" (silenced)" if silenced else ""),
                "alert": a["labels"].get("alertname", ""),
                "severity": a["labels"].get("severity", ""),
                "labels": ", ".join(f"{k}={v}" for k, v in sorted(labels.items())),
                "summary": a["annotations"].get("summary", ""),
                "since": a["startsAt"] or a["activeAt"],
                "value": a["value"],
            }
        )
    return rows


def examples(alerts: list[dict[str, Any]], f: Filters) -> None:
    """Example transactions of the firing and pending alerts, as lineage links."""
    shown = [a for a in alerts if a["state"] in ("firing", "pending") and a["annotations"].get("correlation_ids")]
    for a in shown[:20]:
        ids = [i for i in a["annotations"]["correlation_ids"].replace(",", " ").split() if i]
        links = " ".join(f"[{i[:12]}…]({lineage_link(f, i)})" for i in ids[:5])
        st.markdown(f"- **{a['labels'].get('alertname', '')}** {a['annotations'].get('summary', '')}: {links}")


def _create(alerts: list[dict[str, Any]], rules: list[dict[str, Any]]) -> None:
    names = sorted({r["name"] for r in rules} | {a["labels"].get("alertname", "") for a in alerts} - {""})
    with st.form("silence", clear_on_submit=True):
        st.markdown("**Create a silence** (notifications of matching alerts stop; the alerts stay listed)")
        left, mid, right = st.columns(3)
        name = left.selectbox("Alert", names, index=None, key="silence_alert", placeholder="pick an alert rule")
        label = mid.text_input("and label (optional, e.g. system=erp)", key="silence_label")
        length = right.selectbox("For", list(DURATIONS), index=1, key="silence_for")
        comment = st.text_input("Comment", key="silence_comment", placeholder="why (required)")
        go = st.form_submit_button("Create silence")
    if not go:
        return
    if not name or not comment.strip():
        st.error("Pick an alert and say why.")
        return
    matchers = [{"name": "alertname", "value": name}]
    if "=" in label:
        key, _, value = label.partition("=")
        matchers.append({"name": key.strip(), "value": value.strip()})
    now = datetime.now(UTC)
    body = {
        "matchers": matchers,
        "startsAt": now.isoformat(),
        "endsAt": (now + DURATIONS[length]).isoformat(),
        "comment": comment.strip(),
    }
    try:
        created = data.client().post("/api/v1/silences", body)
    except ApiError as exc:
        st.error(str(exc))
        return
    data.invalidate()
    st.session_state["alerts_done"] = f"Silence {created['silenceID']} created for {length}."
    st.rerun()


def _expire(silences: list[dict[str, Any]]) -> None:
    live = [s for s in silences if s["status"]["state"] != "expired"]
    if not live:
        return
    with st.form("expire"):
        picked = st.selectbox(
            "Silence", [s["id"] for s in live], index=None, key="expire_id", placeholder="pick a silence to expire"
        )
        go = st.form_submit_button("Expire silence")
    if go and picked:
        try:
            data.client()._request("DELETE", f"/api/v1/silences/{picked}")
        except ApiError as exc:
            st.error(str(exc))
            return
        data.invalidate()
        st.session_state["alerts_done"] = f"Silence {picked} expired."
        st.rerun()


def silence_rows(silences: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Silences as table rows."""
    return [
        {
            "state": s["status"]["state"],
            "matchers": ", ".join(f"{m['name']}{'=~' if m['isRegex'] else '='}{m['value']}" for m in s["matchers"]),
            "from": s["startsAt"],
            "until": s["endsAt"],
            "by": s["createdBy"],
            "comment": s["comment"],
            "id": s["id"],
        }
        for s in silences
    ]


def render(f: Filters) -> None:
    """Lay out the alerts page."""
    st.header("Alerts")
    if done := st.session_state.pop("alerts_done", None):
        st.success(done)
    doc = data.fetch("alerts")
    alerts, rules = doc["alerts"], doc["rules"]
    if note := receivers_note(doc):
        (st.caption if doc["receivers"] else st.warning)(note)
    cols = st.columns(3)
    for col, state in zip(cols, ("firing", "pending", "resolved"), strict=True):
        col.metric(state.title(), formats.count(sum(a["state"] == state for a in alerts)), border=True)
    st.subheader("Firing and pending alerts")
    table(alert_rows(alerts, f), "alerts_table", "No alerts are firing or pending.", dashboard=OPEN)
    examples(alerts, f)
    unhealthy = [r for r in rules if r["health"] != "ok"]
    if unhealthy:
        st.warning(
            "Rules that could not be evaluated: " + "; ".join(f"{r['name']}: {r['lastError']}" for r in unhealthy)
        )
    st.subheader("Silences")
    silences = data.fetch("silences")["silences"]
    table(silence_rows(silences), "silences_table", "No silences.")
    if data.may_act("create or expire silences"):
        _create(alerts, rules)
        _expire(silences)
    freshness(doc)
