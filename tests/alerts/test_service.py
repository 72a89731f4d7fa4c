"""The evaluator and dispatcher end to end: a real store, a fake clock, real HTTP receivers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench.faults import slow_rules
from collector.store import Store
from tests.alerts.helpers import (
    HOUR,
    MIN,
    T0,
    hop,
    posting,
    recorder,
    rules_file,
    service,
    webhook_receivers,
)

pytestmark = pytest.mark.timeout(120)

SILENT = """
rules:
  - name: SilentSystem
    kind: silent_system
    expr: {period: 1h, grace: 15m}
    interval: 1m
    for: 5m
    keep_firing_for: 0s
    severity: critical
    team: platform
    annotations:
      summary: "{{ $labels.system }} silent for {{ $value | humanizeDuration }}"
      dashboard_url: "/?system={{ $labels.system }}"
"""


def _systems(store: Store, last_ms: dict[str, int]) -> None:
    for i, (system, at) in enumerate(last_ms.items()):
        hop(store, f"S{i}", f"case:K{i}", "case.opened", at, system=system)


def _firing(body: dict) -> list[str]:
    return [a["labels"]["system"] for a in body["alerts"] if a["status"] == "firing"]


def test_one_silent_system_alerts_alone_and_exactly_once_across_restart(store: Store, tmp_path: Path) -> None:
    _systems(store, {"sap": T0 - 3 * HOUR, "billing": T0 - 5 * MIN, "zendesk": T0 - 10 * MIN})
    with recorder() as rec:
        svc = service(store, rules_file(tmp_path, SILENT), webhook_receivers(rec.url))
        svc.run_once(T0)
        assert rec.bodies == []  # pending: nothing before `for`
        svc.run_once(T0 + 4 * MIN)
        assert rec.bodies == []
        svc.run_once(T0 + 5 * MIN)
        assert len(rec.bodies) == 1
        path, body = rec.bodies[0]
        assert path == "/hook" and _firing(body) == ["sap"]
        assert body["alerts"][0]["annotations"]["dashboard_url"] == "http://dash.test/?system=sap"
        assert body["alerts"][0]["annotations"]["correlation_ids"] == "S0"
        svc.stop()
        # A restart: a new service on the same store neither re-pages nor goes back to pending.
        again = service(store, rules_file(tmp_path, SILENT), webhook_receivers(rec.url))
        again.run_once(T0 + 6 * MIN)
        again.run_once(T0 + 7 * MIN)
        assert len(rec.bodies) == 1
        again.stop()


def test_resolve_survives_a_restart(store: Store, tmp_path: Path) -> None:
    _systems(store, {"sap": T0 - 3 * HOUR, "billing": T0 - 5 * MIN})
    with recorder() as rec:
        svc = service(store, rules_file(tmp_path, SILENT), webhook_receivers(rec.url))
        svc.run_once(T0)
        svc.run_once(T0 + 5 * MIN)
        assert len(rec.bodies) == 1
        # sap speaks again; the resolve is computed but the receiver is down.
        hop(store, "S9", "case:K9", "case.opened", T0 + 6 * MIN, system="sap")
        rec.status = 503
        svc.run_once(T0 + 7 * MIN)
        svc.stop()
        assert len(rec.bodies) == 1
        rec.status = 200
        again = service(store, rules_file(tmp_path, SILENT), webhook_receivers(rec.url))
        again.run_once(T0 + 9 * MIN)
        assert len(rec.bodies) == 2
        body = rec.bodies[1][1]
        assert body["status"] == "resolved" and body["alerts"][0]["labels"]["system"] == "sap"
        again.run_once(T0 + 12 * MIN)
        assert len(rec.bodies) == 2
        history = again.persistence.history("SilentSystem")
        assert [(h["from_state"], h["to_state"]) for h in history] == [
            ("inactive", "pending"),
            ("pending", "firing"),
            ("firing", "resolved"),
        ]
        again.stop()


def test_store_error_puts_rule_in_error_and_never_resolves(store: Store, tmp_path: Path) -> None:
    _systems(store, {"sap": T0 - 3 * HOUR, "billing": T0 - 5 * MIN})
    with recorder() as rec:
        svc = service(store, rules_file(tmp_path, SILENT.replace("for: 5m", "for: 0s")), webhook_receivers(rec.url))
        svc.run_once(T0)
        assert len(rec.bodies) == 1
        store.command("DETACH TABLE hops")
        try:
            svc.run_once(T0 + 2 * MIN)
            svc.run_once(T0 + 4 * MIN)
            assert svc.evaluator.health["SilentSystem"].health == "error"
            [alert] = svc.evaluator.active()
            assert alert.state == "firing"
        finally:
            store.command("ATTACH TABLE hops")
        assert len(rec.bodies) == 1  # no resolve was sent
        svc.run_once(T0 + 6 * MIN)
        assert svc.evaluator.health["SilentSystem"].health == "ok"
        reasons = [(h["from_state"], h["to_state"]) for h in svc.persistence.history("SilentSystem")]
        assert ("ok", "error") in reasons and ("error", "ok") in reasons and ("firing", "resolved") not in reasons
        svc.stop()


def test_silence_suppresses_sending_but_history_records(store: Store, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from alerts.silences import Matcher, Silence

    _systems(store, {"sap": T0 - 3 * HOUR, "billing": T0 - 5 * MIN})
    with recorder() as rec:
        svc = service(store, rules_file(tmp_path, SILENT.replace("for: 5m", "for: 0s")), webhook_receivers(rec.url))
        svc.add_silence(
            Silence(
                matchers=[Matcher(name="system", value="sap")],
                startsAt=datetime.fromtimestamp((T0 - HOUR) / 1000, UTC),
                endsAt=datetime.fromtimestamp((T0 + HOUR) / 1000, UTC),
                createdBy="ops@example.com",
                comment="SAP maintenance window",
            )
        )
        svc.run_once(T0)
        svc.run_once(T0 + MIN)
        assert rec.bodies == []
        assert [h["to_state"] for h in svc.persistence.history("SilentSystem")] == ["pending", "firing"]
        svc.stop()


def test_failing_query_rule_is_an_error_not_a_resolve(store: Store, tmp_path: Path) -> None:
    rules = rules_file(
        tmp_path,
        """
rules:
  - {name: Broken, kind: query, team: platform, query: "SELECT 1 AS value FROM no_such_table"}
  - {name: Fine, kind: query, team: platform, query: "SELECT 'x' AS system, {now_ms:Int64} / 1e12 AS value"}
""",
    )
    svc = service(store, rules)
    svc.run_once(T0)
    assert svc.evaluator.health["Broken"].health == "error"
    assert svc.evaluator.health["Fine"].health == "ok"
    assert [a.rule for a in svc.evaluator.active()] == ["Fine"]
    svc.stop()


def test_posting_latency_rule_names_example_correlation_ids(store: Store, tmp_path: Path) -> None:
    for n in range(5):
        posting(store, n, T0 - 50 * MIN, (6 if n < 3 else 1) * HOUR // 6, system="sap")
    posting(store, 10, T0 - 6 * HOUR, 5 * HOUR + 30 * MIN, system="oracle")
    rules = rules_file(
        tmp_path,
        """
rules:
  - name: Lat
    kind: posting_latency
    expr: {quantile: 0.95, by: system, window: 1h, threshold: 4h}
    team: finance-ops
    annotations: {summary: "{{ $labels.system }} p95 {{ $value | humanizeDuration }}"}
""",
    )
    svc = service(store, rules)
    svc.run_once(T0)
    [alert] = svc.evaluator.active()
    assert alert.labels["system"] == "oracle" and alert.annotations["correlation_ids"] == "C10"
    assert alert.annotations["summary"] == "oracle p95 5h30m" and alert.state == "firing"
    svc.stop()


def _flag_rules(tmp_path: Path, until_ms: int) -> Path:
    return rules_file(
        tmp_path,
        f"""
rules:
  - name: Flag
    kind: query
    query: "SELECT 'sap' AS system, 1.0 AS value FROM numbers(1) WHERE {{now_ms:Int64}} < {until_ms}"
    team: platform
""",
    )


def test_group_wait_swallows_a_blip_and_repeat_interval_resends(store: Store, tmp_path: Path) -> None:
    with recorder() as rec:
        route = (
            "route: {receiver: hook, group_by: [alertname], group_wait: 5m, group_interval: 1m, repeat_interval: 1h}"
        )
        receivers = f'receivers: [{{name: hook, type: webhook, url: "{rec.url}/hook"}}]\n{route}'
        svc = service(store, _flag_rules(tmp_path, T0 + 2 * MIN), receivers)
        for minute in (0, 1, 2, 3, 6, 10):  # fires at 0, resolves at 2: inside group_wait
            svc.run_once(T0 + minute * MIN)
        assert rec.bodies == []
        svc.stop()
        store.command("TRUNCATE TABLE alert_state")
        svc = service(store, _flag_rules(tmp_path, T0 + 10 * HOUR), receivers)
        for minute in (20, 24, 25, 26, 84, 85, 86):
            svc.run_once(T0 + minute * MIN)
        # First after group_wait (at 25), then once more when repeat_interval passed (at 85).
        assert len(rec.bodies) == 2 and all(b["status"] == "firing" for _, b in rec.bodies)
        svc.stop()


def test_stop_cuts_a_round_short_and_records_no_error(store: Store, tmp_path: Path) -> None:
    svc = service(store, rules_file(tmp_path, slow_rules(2)))
    first, second = svc.evaluator.health["Slow0"], svc.evaluator.health["Slow1"]
    svc.start()
    deadline = time.monotonic() + 30
    while not first.last_eval_at and time.monotonic() < deadline:  # the round's first query is running
        time.sleep(0.02)
    svc.stop()
    # The running query was cancelled and the round ended there: the second rule never ran
    # (a stop used to wait for the whole round), and the cancel is no rule error.
    assert first.last_eval_at and second.last_eval_at == 0
    assert first.health != "error" and second.health == "unknown"
    assert svc.persistence.history() == []
