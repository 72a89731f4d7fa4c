"""Replay end to end over a real store, the lineage app and a real receiver on loopback."""

from __future__ import annotations

import time
from typing import Any

import pytest

from alerts.kinds import run_rule
from alerts.rules import load_rules
from lineage.core.flows import load_flows
from lineage.replay.errors import Refused
from lineage.replay.state import check_approver
from lineage.replay.targets import parse_targets
from tests.lineage.helpers import HOUR, now_ns
from tests.lineage.replay.conftest import Env, targets_yaml
from tests.principals import as_user


def _replay(env: Env, cid: str, who: str = "alice", reason: str = "ERP back up") -> Any:
    return env.client.post(f"/api/v1/exceptions/{env.ids[cid]}/replay", json={"reason": reason}, headers=as_user(who))


def test_request_is_stored_then_sent_with_body_and_headers(env: Env) -> None:
    created = _replay(env, "C-ERP-1")
    assert created.status_code == 201, created.text
    replay = created.json()
    assert replay["state"] == "approved" and replay["requested_by"] == "alice"  # 500 EUR: under the threshold
    assert env.receiver.requests == []  # stored, not yet sent
    assert env.worker.run_once() == (1, 0)
    [got] = env.receiver.requests
    assert got.body == {
        "replay_id": replay["id"],
        "correlation_id": "C-ERP-1",
        "flow": "support_credit",
        "entity_type": "ledger",
        "entity_id": "LED-1",
        "step": "ledger.posted",
        "idempotency_key": replay["id"],
        "attempt": 1,
        "requested_by": "alice",
        "approved_by": None,
        "reason": "ERP back up",
        "exception_id": env.ids["C-ERP-1"],
        "amount": 500.0,
        "currency": "EUR",
    }
    assert got.headers["idempotency-key"] == replay["id"]
    assert got.headers["authorization"] == "Bearer erp-secret"
    version, trace_id, span_id, flags = got.headers["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", replay["trace_id"], "01") and len(span_id) == 16
    assert got.headers["baggage"] == "correlation.id=C-ERP-1"
    after = env.client.get(f"/api/v1/replays/{replay['id']}").json()
    assert after["state"] == "delivered" and after["attempts"] == 1
    assert [h["state"] for h in after["history"]] == ["approved", "sent", "delivered"]
    assert env.worker.run_once() == (0, 0)  # delivered: never sent again


def test_four_eyes_same_person_refused_other_approves(env: Env) -> None:
    replay = _replay(env, "C-ERP-2").json()  # 5000 EUR: over the EUR 1000 threshold
    assert replay["state"] == "awaiting_approval"
    assert env.worker.run_once() == (0, 0)
    same = env.client.post(f"/api/v1/replays/{replay['id']}/approve", headers=as_user("alice"))
    assert same.status_code == 403 and "four-eyes" in same.json()["detail"]
    other = env.client.post(f"/api/v1/replays/{replay['id']}/approve", headers=as_user("bob"))
    assert other.status_code == 200 and other.json()["approved_by"] == "bob"
    assert env.worker.run_once() == (1, 0)
    assert env.receiver.requests[0].body["approved_by"] == "bob"
    again = env.client.post(f"/api/v1/replays/{replay['id']}/approve", headers=as_user("carol"))
    assert again.status_code == 409
    history = env.client.get(f"/api/v1/exceptions/{env.ids['C-ERP-2']}").json()["history"]
    assert [(h["action"], h["actor"]) for h in history] == [("replay_requested", "alice"), ("replay_approved", "bob")]


def test_four_eyes_is_blind_to_case_and_spaces_of_an_email_subject(env: Env) -> None:
    replay = _replay(env, "C-ERP-2", who="opA@example.com").json()
    assert replay["state"] == "awaiting_approval" and replay["requested_by"] == "opa@example.com"
    for same_person in ("OPA@example.com", " opa@EXAMPLE.com"):
        refused = env.client.post(f"/api/v1/replays/{replay['id']}/approve", headers=as_user(same_person))
        assert refused.status_code == 403 and "four-eyes" in refused.json()["detail"]
    assert env.worker.run_once() == (0, 0)  # nothing delivered
    # A requester recorded before subjects were normalised is still the same person.
    legacy = {**replay, "requested_by": "OpA@Example.com"}
    with pytest.raises(Refused):
        check_approver(legacy["requested_by"], "opa@example.com")
    other = env.client.post(f"/api/v1/replays/{replay['id']}/approve", headers=as_user("Bob@Example.com"))
    assert other.status_code == 200 and other.json()["approved_by"] == "bob@example.com"


def test_every_refusal_is_409_with_its_reason(env: Env) -> None:
    cases = {
        "C-DONE": "already succeeded",
        "C-RES": "resolved",
        "C-TAX": "not replayable",
        "C-NOTGT": "no replay target",
    }
    for cid, reason in cases.items():
        answer = _replay(env, cid)
        assert answer.status_code == 409 and reason in answer.json()["detail"], (cid, answer.text)
    first = _replay(env, "C-ERP-2")
    second = _replay(env, "C-ERP-2", who="bob")
    assert (
        second.status_code == 409
        and f"{first.json()['id']} of this exception is already in flight" in (second.json()["detail"])
    )
    assert env.client.post("/api/v1/exceptions/0000000000000000/replay", json={"reason": "x"}).status_code == 404
    assert _replay(env, "C-ERP-1", reason="").status_code == 422
    # Cancelled: no longer in flight, so a new replay may be requested.
    assert env.client.post(f"/api/v1/replays/{first.json()['id']}/cancel").json()["state"] == "cancelled"
    assert _replay(env, "C-ERP-2", who="bob").status_code == 201
    assert env.receiver.requests == []


def test_receiver_down_retries_then_failed_nothing_lost(env: Env) -> None:
    env.receiver.close()  # nobody listens on that port any more
    replay = _replay(env, "C-ERP-1").json()
    for _ in range(50):
        env.worker.run_once()
        doc = env.client.get(f"/api/v1/replays/{replay['id']}").json()
        if doc["state"] == "failed":
            break
        time.sleep(0.02)
    assert doc["state"] == "failed" and doc["attempts"] == 3 and "ConnectError" in doc["last_error"]
    assert [h["state"] for h in doc["history"]] == ["approved"] + ["sent"] * 5 + ["failed"]
    listed = env.client.get("/api/v1/replays", params={"state": "failed"}).json()["replays"]
    assert [r["id"] for r in listed] == [replay["id"]]
    by_system = {s: env.client.get("/api/v1/replays", params={"system": s}) for s in ("erp", "billing", "")}
    assert [r["id"] for r in by_system["erp"].json()["replays"]] == [replay["id"]]
    assert by_system["billing"].status_code == 200 and by_system["billing"].json()["replays"] == []
    assert [r["id"] for r in by_system[""].json()["replays"]] == [replay["id"]]  # empty: no filter
    both = env.client.get("/api/v1/replays", params={"system": "erp", "state": "delivered"}).json()["replays"]
    assert both == []
    actions = env.client.get(f"/api/v1/exceptions/{env.ids['C-ERP-1']}").json()
    assert actions["state"] == "open" and actions["history"][-1]["action"] == "replay_failed"
    [rule] = [r for r in load_rules() if r.name == "ReplayFailedOrUnconfirmed"]
    [sample] = run_rule(env.store, rule, env.service.now_ms(), flows=load_flows(), timeout_s=10)
    assert (sample.labels, sample.value, sample.examples) == (
        {"system": "erp", "state": "failed"},
        1.0,
        ("C-ERP-1",),  # correlation IDs: what scoped callers are checked against
    )
    assert _replay(env, "C-ERP-1").status_code == 201  # failed is final: it may be replayed again


def test_receiver_errors_then_accepts_same_idempotency_key(env: Env) -> None:
    env.receiver.statuses = [503, 202]
    replay = _replay(env, "C-ERP-1").json()
    env.worker.run_once()
    time.sleep(0.05)
    env.worker.run_once()
    keys = [r.headers["idempotency-key"] for r in env.receiver.requests]
    assert keys == [replay["id"], replay["id"]]
    assert [r.body["attempt"] for r in env.receiver.requests] == [1, 2]
    assert env.client.get(f"/api/v1/replays/{replay['id']}").json()["state"] == "delivered"


def test_restart_between_store_and_send_sends_once(env: Env) -> None:
    replay = _replay(env, "C-ERP-1").json()
    env.worker.stop()  # the process stops after storing, before the worker ever ran
    restarted = env.new_worker()
    try:
        assert restarted.run_once() == (1, 0)
        assert restarted.run_once() == (0, 0)
    finally:
        restarted.stop()
    assert [r.body["replay_id"] for r in env.receiver.requests] == [replay["id"]]


def test_crash_mid_send_resends_same_key_after_hold(env: Env) -> None:
    """An attempt stored as 'sent' without an outcome is re-sent once its hold expires."""
    replay = _replay(env, "C-ERP-1").json()
    svc = env.service
    with svc.lock:
        row = env.worker._begin(svc.repo.due(svc.now_ms())[0])  # attempt 1 stored, then the "crash"
    assert row is not None and row["state"] == "sent"
    assert env.worker.run_once() == (0, 0)  # held: not re-sent at once
    svc.now_ms = lambda: row["next_attempt_ms"] + 1  # type: ignore[method-assign]
    assert env.new_worker().run_once()[0] == 1
    [got] = env.receiver.requests
    assert got.headers["idempotency-key"] == replay["id"] and got.body["attempt"] == 2


def test_bulk_dry_run_then_replay_within_rate_limit(env: Env) -> None:
    t0 = now_ns() - HOUR
    for n in range(3, 8):  # five more failed postings on the ERP, 100 EUR each
        env.emitter.hop(f"C-BULK-{n}", "ledger", f"LED-{n}", "ledger.posted", t0, system="erp", outcome="failed",
                        category="erp_unavailable", amount=100.0, currency="EUR")  # fmt: skip
    env.emitter.wait()
    body: dict[str, Any] = {"filter": {"category": "erp_unavailable", "since": "24h"}, "dry_run": True}
    dry = env.client.post("/api/v1/replays", json=body).json()
    assert dry["count"] == 7 and dry["amount_by_currency"] == {"EUR": 6000.0} and dry["refused_count"] == 0
    assert dry["replays"] == [] and env.client.get("/api/v1/replays").json()["replays"] == []
    assert env.client.post("/api/v1/replays", json={**body, "dry_run": False}).status_code == 422  # no reason
    env.service.targets = parse_targets(
        targets_yaml(env.receiver.url, per_minute=3), "t", frozenset({"erp_unavailable"})
    )
    done = env.client.post("/api/v1/replays", json={**body, "dry_run": False, "reason": "ERP outage over"}).json()
    assert done["count"] == 7 and sorted(r["state"] for r in done["replays"]) == ["approved"] * 6 + [
        "awaiting_approval"
    ]
    assert env.worker.run_once()[0] == 3  # three per minute
    assert env.worker.run_once()[0] == 0
    env.clock.now += 59
    assert env.worker.run_once()[0] == 0
    env.clock.now += 1
    assert env.worker.run_once()[0] == 3
    assert len({r.body["replay_id"] for r in env.receiver.requests}) == 6 == len(env.receiver.requests)
    again = env.client.post("/api/v1/replays", json={**body, "dry_run": True}).json()
    assert again["count"] == 0 and again["refused_count"] == 7  # every one is in flight now
