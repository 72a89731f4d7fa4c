"""The replay worker's own health on the API's ``/metrics``: its queue, attempts per target and
outcome, its rounds. A real store, the lineage app and a real receiver on loopback."""

from __future__ import annotations

import time
from typing import Any

import pytest

from collector.store.errors import StoreError
from lineage.replay.targets import parse_targets
from tests.lineage.replay.conftest import Env, targets_yaml
from tests.metrics import Scrape
from tests.principals import as_user


def _scrape(env: Env) -> Scrape:
    response = env.client.get("/metrics")
    assert response.status_code == 200
    return Scrape(response.text)


def _replay(env: Env, cid: str) -> Any:
    created = env.client.post(f"/api/v1/exceptions/{env.ids[cid]}/replay", json={"reason": "ERP back up"})
    assert created.status_code == 201, created.text
    return created.json()


def test_the_queue_and_deliveries_are_reported(env: Env) -> None:
    before = _scrape(env)
    assert before.value("ledgerline_replay_attempts_total", target="erp", outcome="failed") == 0
    assert before.get("ledgerline_replay_last_run_timestamp_seconds") == 0
    assert before.get("ledgerline_replay_worker_leading") == 0  # not started
    env.service.targets = parse_targets(
        targets_yaml(env.receiver.url, per_minute=1), "t", frozenset({"erp_unavailable"})
    )
    _replay(env, "C-ERP-1")  # 500 EUR: approved at once
    second = _replay(env, "C-ERP-2")  # 5000 EUR: a second person approves
    assert env.client.post(f"/api/v1/replays/{second['id']}/approve", headers=as_user("bob")).status_code == 200

    assert env.worker.run_once() == (1, 0)  # one per minute: the other waits in the queue
    queued = _scrape(env)
    assert queued.get("ledgerline_replay_due") == 1
    assert queued.get("ledgerline_replay_oldest_due_age_seconds") >= 0
    assert queued.get("ledgerline_replay_attempts_total", target="erp", outcome="delivered") == 1
    assert queued.get("ledgerline_replay_rounds_total", outcome="ok") == 1
    assert queued.get("ledgerline_replay_last_run_timestamp_seconds") > 0

    env.clock.now += 60
    assert env.worker.run_once() == (1, 0)
    drained = _scrape(env)
    assert drained.get("ledgerline_replay_due") == 0
    assert drained.get("ledgerline_replay_oldest_due_age_seconds") == 0
    assert drained.get("ledgerline_replay_attempts_total", target="erp", outcome="delivered") == 2
    assert drained.get("ledgerline_replay_attempts_total", target="erp", outcome="failed") == 0
    # Nothing of a replay is in a label: no correlation ID, exception or replay id.
    assert "C-ERP" not in drained.text and second["id"] not in drained.text


def test_retries_failures_and_failed_rounds_are_counted(env: Env) -> None:
    env.receiver.close()  # nobody listens on that port any more
    replay = _replay(env, "C-ERP-1")
    for _ in range(50):
        env.worker.run_once()
        if env.client.get(f"/api/v1/replays/{replay['id']}").json()["state"] == "failed":
            break
        time.sleep(0.02)
    scraped = _scrape(env)
    assert scraped.get("ledgerline_replay_attempts_total", target="erp", outcome="retry") == 2
    assert scraped.get("ledgerline_replay_attempts_total", target="erp", outcome="failed") == 1
    assert scraped.get("ledgerline_replay_attempts_total", target="erp", outcome="delivered") == 0
    env.store.command("DETACH TABLE replays")
    try:
        with pytest.raises(StoreError):
            env.worker.run_once()
    finally:
        env.store.command("ATTACH TABLE replays")
    assert _scrape(env).get("ledgerline_replay_rounds_total", outcome="error") == 1
