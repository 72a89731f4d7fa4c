"""Notification bodies against the published shapes."""

from __future__ import annotations

from alerts import notify
from alerts.model import Alert, State, fingerprint

LABELS = {"alertname": "SilentSystem", "system": "sap", "severity": "critical", "team": "platform"}
NOTES = {"summary": "sap is silent", "dashboard_url": "http://dash/?system=sap", "correlation_ids": "C1, C2"}
FIRING = Alert("SilentSystem", fingerprint(LABELS), LABELS, State.FIRING, NOTES, 7200.0, 1000, 2000)
RESOLVED = FIRING.with_(state=State.RESOLVED, resolved_at=3_000_000)


def test_webhook_v4_shape() -> None:
    body = notify.webhook_v4(
        "hook", '{}:{alertname="SilentSystem"}', {"alertname": "SilentSystem"}, [FIRING], "http://dash"
    )
    assert set(body) == {
        "version",
        "groupKey",
        "truncatedAlerts",
        "status",
        "receiver",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "alerts",
    }
    assert body["version"] == "4" and body["status"] == "firing" and body["commonLabels"] == LABELS
    [alert] = body["alerts"]
    assert set(alert) == {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}
    assert alert["endsAt"] == "0001-01-01T00:00:00Z" and alert["startsAt"] == "1970-01-01T00:00:02.000Z"
    assert alert["fingerprint"] == FIRING.fingerprint and len(alert["fingerprint"]) == 16
    done = notify.webhook_v4("hook", "k", {}, [RESOLVED], "http://dash")
    assert done["status"] == "resolved" and done["alerts"][0]["endsAt"] == "1970-01-01T00:50:00.000Z"


def test_alertmanager_v2_postable_alert() -> None:
    firing = notify.am_postable(FIRING, 240_000, "http://dash")
    assert set(firing) == {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}
    assert firing["endsAt"] == "1970-01-01T00:04:00.000Z"
    assert notify.am_postable(RESOLVED, 240_000, "")["endsAt"] == "1970-01-01T00:50:00.000Z"


def test_slack_text_and_blocks() -> None:
    body = notify.slack({"alertname": "SilentSystem"}, [FIRING])
    assert body["text"].startswith("[FIRING:1] alertname=SilentSystem")
    assert body["blocks"][0]["type"] == "header"
    section = body["blocks"][1]["text"]
    assert section["type"] == "mrkdwn" and "C1, C2" in section["text"]
    assert "<http://dash/?system=sap|" in section["text"]


def test_pagerduty_trigger_and_resolve_share_the_dedup_key() -> None:
    trigger = notify.pagerduty(FIRING, "rk", "ledgerline", "http://dash")
    resolve = notify.pagerduty(RESOLVED, "rk", "ledgerline", "http://dash")
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["dedup_key"] == resolve["dedup_key"] and trigger["routing_key"] == resolve["routing_key"] == "rk"
    payload = trigger["payload"]
    assert {"summary", "source", "severity"} <= set(payload) and payload["severity"] == "critical"
    assert set(resolve) == {"routing_key", "dedup_key", "event_action"}
