"""The evaluator's own health on its metrics: rounds, rule errors, deliveries per receiver.

A real store, real HTTP receivers on loopback (one healthy, one answering 500), a fake clock;
the metrics are read as ``/metrics`` serves them (the exposition text of the registry).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from collector.store import Store
from tests.alerts.helpers import T0, recorder, rules_file, service
from tests.metrics import read

pytestmark = pytest.mark.timeout(120)

RULES = """
rules:
  - {name: Broken, kind: query, team: platform, query: "SELECT 1 AS value FROM no_such_table"}
  - {name: Fine, kind: query, team: platform, for: 0s, query: "SELECT 'x' AS system, 1 AS value"}
"""


def _receivers(good: str, dead: str) -> str:
    return f"""
receivers:
  - {{name: hook, type: webhook, url: "{good}/hook"}}
  - {{name: dead, type: webhook, url: "{dead}/hook"}}
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  routes:
    - {{matchers: {{team: platform}}, receiver: dead, continue: true}}
    - {{matchers: {{team: platform}}, receiver: hook}}
"""


def test_rule_errors_and_failed_deliveries_are_counted_per_rule_and_receiver(store: Store, tmp_path: Path) -> None:
    registry = CollectorRegistry()
    with recorder() as good, recorder() as dead:
        dead.status = 500
        svc = service(store, rules_file(tmp_path, RULES), _receivers(good.url, dead.url), registry=registry)
        before = read(registry)
        # Every rule's and receiver's series exist before anything happened: the first error is an increase.
        assert before.value("ledgerline_alert_rule_errors_total", rule="Broken") == 0
        assert before.value("ledgerline_alert_notifications_total", receiver="dead", outcome="failed") == 0
        assert before.get("ledgerline_alert_last_success_timestamp_seconds") == 0

        svc.run_once(T0)
        after = read(registry)
        assert after.get("ledgerline_alert_rule_errors_total", rule="Broken") == 1
        assert after.get("ledgerline_alert_rule_errors_total", rule="Fine") == 0
        assert after.get("ledgerline_alert_rules_failing") == 1
        assert after.get("ledgerline_alert_round_duration_seconds_count") == 1
        assert after.get("ledgerline_alert_rounds_total", outcome="ok") == 1
        assert after.get("ledgerline_alert_last_success_timestamp_seconds") > 0
        assert after.get("ledgerline_alert_evaluator_leading") == 1
        assert after.get("ledgerline_alert_round_interval_seconds") == svc.settings.alert_tick_s
        # The dead receiver: two attempts (one a retry), one failed notification; the good one delivered.
        assert dead.requests == 2 and len(good.bodies) == 1
        assert after.get("ledgerline_alert_delivery_attempts_total", receiver="dead") == 2
        assert after.get("ledgerline_alert_delivery_retries_total", receiver="dead") == 1
        assert after.get("ledgerline_alert_notifications_total", receiver="dead", outcome="failed") == 1
        assert after.get("ledgerline_alert_notifications_total", receiver="dead", outcome="delivered") == 0
        assert after.get("ledgerline_alert_delivery_attempts_total", receiver="hook") == 1
        assert after.get("ledgerline_alert_delivery_retries_total", receiver="hook") == 0
        assert after.get("ledgerline_alert_notifications_total", receiver="hook", outcome="delivered") == 1

        dead.status = 400  # rejected as wrong: not retried
        svc.run_once(T0 + 60_000)
        last = read(registry)
        assert last.get("ledgerline_alert_rule_errors_total", rule="Broken") == 2
        assert last.get("ledgerline_alert_delivery_attempts_total", receiver="dead") == 3
        assert last.get("ledgerline_alert_delivery_retries_total", receiver="dead") == 1
        assert last.get("ledgerline_alert_notifications_total", receiver="dead", outcome="failed") == 2
        svc.stop()


def test_a_round_that_fails_is_counted_and_leaves_the_last_success_alone(store: Store, tmp_path: Path) -> None:
    registry = CollectorRegistry()
    svc = service(store, rules_file(tmp_path, RULES), registry=registry)
    svc.run_once(T0)
    succeeded = read(registry).get("ledgerline_alert_last_success_timestamp_seconds")
    store.command("DETACH TABLE alert_state")  # the round cannot store what it evaluated
    try:
        with pytest.raises(Exception, match="alert_state"):
            svc.run_once(T0 + 60_000)
    finally:
        store.command("ATTACH TABLE alert_state")
    scraped = read(registry)
    assert scraped.get("ledgerline_alert_rounds_total", outcome="error") == 1
    assert scraped.get("ledgerline_alert_rounds_total", outcome="ok") == 1
    assert scraped.get("ledgerline_alert_last_success_timestamp_seconds") == succeeded
    svc.stop()


def test_a_process_that_only_serves_the_alerts_api_does_not_lead(store: Store, tmp_path: Path) -> None:
    from alerts.service import AlertService

    registry = CollectorRegistry()
    svc = service(store, rules_file(tmp_path, RULES))
    follower = AlertService(svc.settings, store, evaluating=False, registry=registry)
    assert read(registry).get("ledgerline_alert_evaluator_leading") == 0
    follower.stop()
    svc.stop()
