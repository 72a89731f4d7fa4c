"""Confirmation: the simulator's ERP adapter re-posts through the real collector, and the
retried hop confirms the replay and resolves the exception."""

from __future__ import annotations

import time

from ledgerline.simulator.config import SimConfig
from ledgerline.simulator.replay import ReplayResponder
from lineage.replay.targets import parse_targets
from tests.lineage.helpers import now_ns
from tests.lineage.replay.conftest import Env, targets_yaml
from tests.principals import as_user


def test_simulator_retried_hop_confirms_and_resolves(env: Env) -> None:
    responder = ReplayResponder(SimConfig(endpoint=env.emitter.endpoint), port=0).start()
    try:
        env.service.targets = parse_targets(targets_yaml(responder.url), "t", frozenset({"erp_unavailable"}))
        exc_id = env.ids["C-ERP-1"]
        replay = env.client.post(f"/api/v1/exceptions/{exc_id}/replay", json={"reason": "ERP back"}).json()
        sent, confirmed = env.worker.run_once()  # the adapter answers once the hop is stored
        assert sent == 1
        deadline = time.monotonic() + 15
        while not confirmed and time.monotonic() < deadline:  # the hop travels SDK -> collector -> store
            confirmed = env.worker.confirm()
            time.sleep(0.1)
        assert confirmed == 1
        # A duplicate request (same Idempotency-Key) does not re-post.
        status, answer = responder.repost(
            {"step": "ledger.posted", "entity_type": "ledger", "entity_id": "LED-1"},
            {"idempotency-key": replay["id"]},
        )
        assert (status, answer["status"]) == (200, "duplicate")
    finally:
        responder.stop()
    doc = env.client.get(f"/api/v1/replays/{replay['id']}").json()
    assert doc["state"] == "confirmed" and doc["confirmed_by_span"]
    trace_id = doc["confirmed_by_span"].split("/")[0]
    assert trace_id == replay["trace_id"]  # the retried hop continues the replay's trace
    exc = env.client.get(f"/api/v1/exceptions/{exc_id}").json()
    assert exc["state"] == "resolved"
    assert [(h["action"], h["actor"]) for h in exc["history"]] == [
        ("replay_requested", "alice"),
        ("resolve", "ledgerline:replay"),
    ]
    txn = env.client.get("/api/v1/transactions/C-ERP-1").json()
    [posting] = [h for h in txn["hops"] if h["step"] == "ledger.posted"]
    assert posting["attempts"] == 2 and posting["outcome"] == "ok"  # a further attempt of the same hop
    assert [(r["id"], r["state"]) for r in txn["replays"]] == [(replay["id"], "confirmed")]
    links = env.store.query(
        "SELECT LinkTraceIds FROM hops WHERE CorrelationId = 'C-ERP-1' AND Outcome = 'ok' AND Step = 'ledger.posted'"
    )
    assert links[0][0] == [replay["trace_id"]]


def test_failed_replay_is_confirmed_by_a_later_ok_hop(env: Env) -> None:
    env.receiver.close()  # the ERP's replay endpoint is down: the replay fails
    exc_id = env.ids["C-ERP-1"]
    replay = env.client.post(f"/api/v1/exceptions/{exc_id}/replay", json={"reason": "ERP back"}).json()
    deadline = time.monotonic() + 15
    while env.client.get(f"/api/v1/replays/{replay['id']}").json()["state"] != "failed":
        assert time.monotonic() < deadline, "the replay did not fail"
        env.worker.run_once()
        time.sleep(0.02)
    assert env.worker.confirm() == 0  # no ok hop yet
    # The ERP retries on its own and posts: an ok hop for the same entity and step.
    env.emitter.hop("C-ERP-1", "ledger", "LED-1", "ledger.posted", now_ns(), system="erp", amount=500.0,
                    currency="EUR", parent=("invoice", "INV-1"))  # fmt: skip
    env.emitter.wait()
    assert env.worker.confirm() == 1
    assert env.worker.confirm() == 0  # confirmed once
    doc = env.client.get(f"/api/v1/replays/{replay['id']}").json()
    assert doc["state"] == "confirmed" and doc["confirmed_by_span"]
    assert [h["state"] for h in doc["history"]][-2:] == ["failed", "confirmed"]
    assert doc["history"][-1]["note"] == f"hop {doc['confirmed_by_span']} ok after the replay failed"
    exc = env.client.get(f"/api/v1/exceptions/{exc_id}").json()
    assert exc["state"] == "resolved"
    assert [(h["action"], h["actor"]) for h in exc["history"]][-2:] == [
        ("replay_failed", "ledgerline"),
        ("resolve", "ledgerline:replay"),
    ]
    failed = env.client.get("/api/v1/replays", params={"state": "failed"}).json()["replays"]
    assert failed == []  # and so out of the ReplayFailedOrUnconfirmed alert


def test_viewer_reads_but_writes_need_a_principal(env: Env) -> None:
    listed = env.client.get("/api/v1/replays", headers=as_user("vera", "viewer"))
    assert listed.status_code == 200 and listed.json() == {"replays": [], "truncated": False}
    assert env.client.get("/api/v1/replays/" + "0" * 32).status_code == 404
    assert env.client.get("/api/v1/replays", params={"state": "bogus"}).status_code == 422
