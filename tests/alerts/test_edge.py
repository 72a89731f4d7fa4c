"""Alerts at the edge: RE2 silence matchers (no ReDoS, 422 for bad patterns, old bad rows
skipped) and alerts of removed rules resolved once after a restart."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from alerts.silences import MAX_PATTERN_CHARS, Matcher
from collector.service import UvicornThread
from collector.store import Store
from ledgerline.server import compose_app
from lineage.auth.settings import AuthSettings
from tests.alerts.helpers import MIN, T0, recorder, rules_file, service, webhook_receivers
from tests.conftest import RunningCollector
from tests.lineage.auth.helpers import bearer, issue

pytestmark = pytest.mark.timeout(120)

REDOS = "(.|.|.)*!"
LONG = "a" * 40  # 3**40 paths for a backtracking engine
RULES = f"""
rules:
  - {{name: Flag, kind: query, team: platform, query: "SELECT '{LONG}' AS system, 1.0 AS value"}}
"""
SILENCE = {
    "startsAt": "2026-01-01T00:00:00Z",
    "endsAt": "2099-01-01T00:00:00Z",
    "createdBy": "ops",
    "comment": "maintenance",
}


def test_matchers_have_full_match_re2_semantics() -> None:
    m = Matcher(name="system", value="sa.|bill", isRegex=True)
    assert m.matches({"system": "sap"}) and m.matches({"system": "bill"})
    assert not m.matches({"system": "billing"}) and not m.matches({"system": "xsap"})
    assert Matcher(name="system", value="sap", isRegex=True, isEqual=False).matches({"system": "erp"})
    started = time.perf_counter()
    assert not Matcher(name="system", value=REDOS, isRegex=True).matches({"system": "a" * 100_000})
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("value", "why"),
    [("(", "missing )"), (r"(a)\1", "invalid escape"), ("a{1000}{1000}", "repetition"), ("a" * 1025, "1024")],
)
def test_bad_patterns_are_422_with_a_reason(store: Store, tmp_path: Path, value: str, why: str) -> None:
    assert MAX_PATTERN_CHARS == 1024
    svc = service(store, rules_file(tmp_path, RULES))
    app = compose_app(store, AuthSettings(), svc)
    with TestClient(app, headers=bearer(issue(store, "operator"))) as client:
        response = client.post(
            "/api/v1/silences", json=SILENCE | {"matchers": [{"name": "system", "value": value, "isRegex": True}]}
        )
        assert response.status_code == 422
        assert why in json.dumps(response.json())
        assert client.get("/api/v1/silences").json() == []
    svc.stop()


@pytest.mark.faults
def test_redos_silence_keeps_the_process_answering(store: Store, tmp_path: Path, collector: RunningCollector) -> None:
    """The pattern that froze the process for 11.6 s: the API and /healthz answer at once."""
    svc = service(store, rules_file(tmp_path, RULES))
    svc.run_once(T0)
    app = compose_app(store, AuthSettings(), svc)
    api = UvicornThread(app, "127.0.0.1", 0)
    api.start()
    worst = [0.0]
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                started = time.perf_counter()
                assert client.get(f"{collector.http_url}/healthz").status_code == 200
                worst[0] = max(worst[0], time.perf_counter() - started)
                time.sleep(0.02)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    try:
        operator = bearer(issue(store, "operator"))
        with httpx.Client(base_url=f"http://127.0.0.1:{api.port}", timeout=5, headers=operator) as client:
            silence = SILENCE | {"matchers": [{"name": "system", "value": REDOS, "isRegex": True}]}
            assert client.post("/api/v1/silences", json=silence).status_code == 201
            started = time.perf_counter()
            for _ in range(5):
                [alert] = client.get("/api/v1/alerts").json()["alerts"]
                assert alert["labels"]["system"] == LONG and alert["status"]["state"] == "active"
            assert time.perf_counter() - started < 3.0
    finally:
        stop.set()
        prober.join(10)
        api.stop(5)
        svc.stop()
    assert worst[0] < 1.0


def test_a_stored_silence_that_no_longer_validates_is_skipped_once(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    svc = service(store, rules_file(tmp_path, RULES))
    good = {"name": "system", "value": "sap"}
    bad = {"name": "system", "value": r"(a)\1", "isRegex": True, "isEqual": True}  # Python re took it
    rows = [
        ["s-good", json.dumps([good]), T0, T0 + 60 * MIN, "ops", "ok", 0, 1],
        ["s-bad", json.dumps([bad]), T0, T0 + 60 * MIN, "ops", "old", 0, 1],
    ]
    from alerts import queries

    store.insert("alert_silences", rows, queries.SILENCE_COLUMNS)
    with caplog.at_level(logging.WARNING, logger="alerts.persist"):
        assert [s.id for s in svc.silences()] == ["s-good"]
        svc.run_once(T0)  # a round reads the silences too: no crash, no second log line
        assert [s.id for s in svc.silences()] == ["s-good"]
    lines = [r.getMessage() for r in caplog.records if "s-bad" in r.getMessage()]
    assert len(lines) == 1 and "no longer validates" in lines[0]
    svc.stop()


FIRING = """
rules:
  - {name: Flag, kind: query, team: platform, query: "SELECT 'sap' AS system, 1.0 AS value"}
  - {name: Other, kind: query, team: platform, query: "SELECT 'erp' AS system, 1.0 AS value"}
"""
WITHOUT_FLAG = """
rules:
  - {name: Other, kind: query, team: platform, query: "SELECT 'erp' AS system, 1.0 AS value"}
"""


def test_a_removed_rules_alert_resolves_once_and_never_pages_again(store: Store, tmp_path: Path) -> None:
    with recorder() as rec:
        svc = service(store, rules_file(tmp_path, FIRING), webhook_receivers(rec.url))
        svc.run_once(T0)
        fired = sorted(a["labels"]["alertname"] for _, body in rec.bodies for a in body["alerts"])
        assert fired == ["Flag", "Other"]
        svc.stop()
        # Restart with a rule file that no longer has Flag.
        again = service(store, rules_file(tmp_path, WITHOUT_FLAG), webhook_receivers(rec.url))
        for minute in range(1, 6 * 60, 7):  # past group_interval, repeat_interval and retention
            again.run_once(T0 + minute * MIN)
        flag = [
            (body["status"], a["status"])
            for _, body in rec.bodies[2:]
            for a in body["alerts"]
            if a["labels"]["alertname"] == "Flag"
        ]
        assert flag == [("resolved", "resolved")]
        assert [a.rule for a in again.evaluator.active()] == ["Other"]
        history = again.persistence.history("Flag")
        assert [(h["from_state"], h["to_state"], h["reason"]) for h in history][-1] == (
            "firing",
            "resolved",
            "rule removed",
        )
        again.stop()
        # And a further restart does not bring it back.
        third = service(store, rules_file(tmp_path, WITHOUT_FLAG), webhook_receivers(rec.url))
        sent = len(rec.bodies)
        third.run_once(T0 + 7 * 60 * MIN)
        assert all(a.rule == "Other" for a in third.evaluator.active())
        assert all(a["labels"]["alertname"] == "Other" for _, body in rec.bodies[sent:] for a in body["alerts"])
        third.stop()
