"""Notification bodies in their published shapes: Alertmanager webhook v4, Alertmanager
API v2 postable alerts, Slack incoming webhooks (text + blocks) and PagerDuty Events v2."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alerts.model import Alert, State

ZERO_TIME = "0001-01-01T00:00:00Z"
_PD_SEVERITY = {"critical": "critical", "error": "error", "warning": "warning", "info": "info"}


def iso(at_ms: int) -> str:
    """RFC 3339 UTC with milliseconds."""
    return datetime.fromtimestamp(at_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def status(alert: Alert) -> str:
    """``firing`` or ``resolved``."""
    return "resolved" if alert.state == State.RESOLVED else "firing"


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = maps[0]
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}


def webhook_alert(alert: Alert, generator_url: str) -> dict[str, Any]:
    """One alert of a webhook v4 message; ``endsAt`` is zero while firing (as Alertmanager)."""
    return {
        "status": status(alert),
        "labels": alert.labels,
        "annotations": alert.annotations,
        "startsAt": iso(alert.fired_at or alert.active_at),
        "endsAt": iso(alert.resolved_at) if alert.state == State.RESOLVED else ZERO_TIME,
        "generatorURL": alert.annotations.get("dashboard_url", generator_url),
        "fingerprint": alert.fingerprint,
    }


def webhook_v4(
    receiver: str,
    group_key: str,
    group_labels: dict[str, str],
    alerts: list[Alert],
    external_url: str,
    max_alerts: int = 0,
) -> dict[str, Any]:
    """The Alertmanager webhook body, version 4."""
    shown = alerts[:max_alerts] if max_alerts else alerts
    firing = any(a.state == State.FIRING for a in alerts)
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": len(alerts) - len(shown),
        "status": "firing" if firing else "resolved",
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": _common([a.labels for a in alerts]),
        "commonAnnotations": _common([a.annotations for a in alerts]),
        "externalURL": external_url,
        "alerts": [webhook_alert(a, external_url) for a in shown],
    }


def am_postable(alert: Alert, valid_until_ms: int, generator_url: str) -> dict[str, Any]:
    """A postableAlert for ``POST /api/v2/alerts``: firing alerts carry ``endsAt`` in the
    future (re-sent before it passes); resolved ones carry their resolve time."""
    ends = alert.resolved_at if alert.state == State.RESOLVED else valid_until_ms
    return {
        "labels": alert.labels,
        "annotations": alert.annotations,
        "startsAt": iso(alert.fired_at or alert.active_at),
        "endsAt": iso(ends),
        "generatorURL": alert.annotations.get("dashboard_url", generator_url),
    }


def _slack_line(alert: Alert) -> str:
    notes = alert.annotations
    summary = notes.get("summary") or alert.labels.get("alertname", "")
    parts = [f"*{status(alert).upper()}* {summary}"]
    if notes.get("description"):
        parts.append(notes["description"])
    if notes.get("why"):
        parts.append(f"Why: {notes['why']}")
    if notes.get("correlation_ids"):
        parts.append(f"Correlation IDs: {notes['correlation_ids']}")
    links = [
        f"<{notes[k]}|{label}>"
        for k, label in (("dashboard_url", "Dashboard"), ("runbook_url", "Runbook"))
        if notes.get(k)
    ]
    if links:
        parts.append(" · ".join(links))
    return "\n".join(parts)


def slack(group_labels: dict[str, str], alerts: list[Alert]) -> dict[str, Any]:
    """An incoming-webhook message: ``text`` (the notification fallback) plus ``blocks``."""
    firing = [a for a in alerts if a.state == State.FIRING]
    head = f"[{'FIRING:' + str(len(firing)) if firing else 'RESOLVED'}] " + " ".join(
        f"{k}={v}" for k, v in sorted(group_labels.items())
    )
    lines = [_slack_line(a) for a in alerts[:20]]  # Slack allows 50 blocks; keep it readable
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": head[:150]}}]
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": line[:3000]}} for line in lines]
    if len(alerts) > len(lines):
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"and {len(alerts) - len(lines)} more"}]}
        )
    return {"text": head + "\n" + "\n\n".join(lines), "blocks": blocks}


def pagerduty_dedup_key(alert: Alert) -> str:
    """Stable per instance: the same key triggers and resolves the same incident."""
    return f"ledgerline/{alert.rule}/{alert.fingerprint}"


def pagerduty(alert: Alert, routing_key: str, source: str, client_url: str) -> dict[str, Any]:
    """A PagerDuty Events API v2 trigger (firing) or resolve (resolved) event."""
    event: dict[str, Any] = {"routing_key": routing_key, "dedup_key": pagerduty_dedup_key(alert)[:255]}
    if alert.state == State.RESOLVED:
        return event | {"event_action": "resolve"}
    notes = alert.annotations
    summary = notes.get("summary") or alert.labels.get("alertname", "alert")
    links = [
        {"href": notes[k], "text": k.replace("_url", "")} for k in ("dashboard_url", "runbook_url") if notes.get(k)
    ]
    return event | {
        "event_action": "trigger",
        "payload": {
            "summary": summary[:1024],
            "source": source,
            "severity": _PD_SEVERITY.get(alert.labels.get("severity", ""), "warning"),
            "timestamp": iso(alert.fired_at or alert.active_at),
            "component": alert.labels.get("system", ""),
            "group": alert.labels.get("team", ""),
            "class": alert.labels.get("alertname", ""),
            "custom_details": {"labels": alert.labels, "annotations": notes, "value": alert.value},
        },
        "links": links,
        "client": "ledgerline",
        "client_url": notes.get("dashboard_url", client_url),
    }
