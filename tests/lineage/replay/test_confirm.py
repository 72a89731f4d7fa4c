"""Confirmation: the simulator's ERP adapter re-posts through the real collector, and the
retried hop confirms the replay and resolves the exception."""

from __future__ import annotations

import time

from ledgerline.simulator.config import SimConfig
from ledgerline.simulator.replay import ReplayResponder
from lineage.replay.targets import parse_targets
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


def test_viewer_reads_but_writes_need_a_principal(env: Env) -> None:
    listed = env.client.get("/api/v1/replays", headers=as_user("vera", "viewer"))
    assert listed.status_code == 200 and listed.json() == {"replays": [], "truncated": False}
    assert env.client.get("/api/v1/replays/" + "0" * 32).status_code == 404
    assert env.client.get("/api/v1/replays", params={"state": "bogus"}).status_code == 422
