"""Delivery to Alertmanager, Slack and PagerDuty receivers on loopback; a down receiver."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from alerts.notify import iso
from collector.store import Store
from tests.alerts.helpers import MIN, T0, recorder, rules_file, service

pytestmark = pytest.mark.timeout(120)

# Fires (for: 0s) while the fake clock is before T0 + 10 min.
RULES = f"""
rules:
  - name: Flag
    kind: query
    query: "SELECT 'sap' AS system, 1.0 AS value FROM numbers(1) WHERE {{now_ms:Int64}} < {T0 + 10 * MIN}"
    severity: critical
    team: finance-ops
    annotations: {{summary: "flag on {{{{ $labels.system }}}}", dashboard_url: "/?system=sap"}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_pagerduty_trigger_then_resolve_with_one_dedup_key(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_PD_KEY", "R0UTINGKEY")
    with recorder() as pd:
        svc = service(
            store,
            rules_file(tmp_path, RULES),
            f"""
receivers: [{{name: pd, type: pagerduty, url: "{pd.url}/v2/enqueue", routing_key_env: TEST_PD_KEY}}]
route: {{receiver: pd, group_wait: 0s, group_interval: 1m}}
""",
        )
        svc.run_once(T0)
        svc.run_once(T0 + MIN)
        svc.run_once(T0 + 11 * MIN)
        svc.run_once(T0 + 13 * MIN)
        svc.stop()
    actions = [(b["event_action"], b["dedup_key"], b["routing_key"]) for _, b in pd.bodies]
    assert [a for a, _, _ in actions] == ["trigger", "resolve"]
    assert actions[0][1] == actions[1][1] and {k for _, _, k in actions} == {"R0UTINGKEY"}
    assert pd.bodies[0][0] == "/v2/enqueue" and pd.bodies[0][1]["payload"]["severity"] == "critical"


def test_slack_429_retry_after_is_honoured(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with recorder() as slack:
        monkeypatch.setenv("TEST_SLACK_URL", f"{slack.url}/services/T/B/X")
        slack.script = [429]
        slack.headers = {"Retry-After": "1"}
        svc = service(
            store,
            rules_file(tmp_path, RULES),
            """
receivers: [{name: slack, type: slack, url_env: TEST_SLACK_URL}]
route: {receiver: slack, group_wait: 0s}
""",
        )
        started = time.monotonic()
        svc.run_once(T0)
        elapsed = time.monotonic() - started
        svc.stop()
    assert slack.requests == 2 and len(slack.bodies) == 1 and elapsed >= 1.0
    body = slack.bodies[0][1]
    assert body["text"].startswith("[FIRING:1]") and body["blocks"][0]["type"] == "header"


def test_alertmanager_receives_resends_and_resolves(store: Store, tmp_path: Path) -> None:
    with recorder() as am:
        svc = service(
            store,
            rules_file(tmp_path, RULES),
            f"""
receivers: [{{name: am, type: alertmanager, url: "{am.url}", resend_delay: 1m}}]
route: {{receiver: am, group_wait: 0s}}
""",
        )
        for minute in (0, 0.5, 1, 11, 12):
            svc.run_once(T0 + int(minute * MIN))
        svc.stop()
    assert [p for p, _ in am.bodies] == ["/api/v2/alerts"] * 4
    first, resend, resolved, resolved_again = (b[0] for _, b in am.bodies)
    assert first["labels"]["alertname"] == "Flag" and first["endsAt"] > first["startsAt"]
    assert resend["startsAt"] == first["startsAt"]
    # Resolved: endsAt is the resolve time (in the past), re-sent within the retention.
    assert resolved["endsAt"] == resolved_again["endsAt"] == iso(T0 + 11 * MIN)


def test_a_down_receiver_does_not_block_the_others(store: Store, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{_free_port()}"
    with recorder() as hook:
        svc = service(
            store,
            rules_file(tmp_path, RULES),
            f"""
receivers:
  - {{name: dead, type: webhook, url: "{dead}/x"}}
  - {{name: hook, type: webhook, url: "{hook.url}/hook"}}
route:
  group_wait: 0s
  routes:
    - {{matchers: {{team: finance-ops}}, receiver: dead, continue: true}}
    - {{matchers: {{team: finance-ops}}, receiver: hook}}
""",
        )
        svc.run_once(T0)
        assert len(hook.bodies) == 1
        assert [r for r, _ in svc.dispatcher.sent] == ["hook"]
        svc.run_once(T0 + MIN)  # the dead one is retried, the live one is not re-sent
        assert len(hook.bodies) == 1
        svc.stop()
