"""Replay workers of several API processes: only the lease holder delivers."""

from __future__ import annotations

import time

import pytest

from collector.store.lease import REPLAY, Lease
from tests.lineage.replay.conftest import Env
from tests.lineage.replay.test_flow import _replay

pytestmark = pytest.mark.timeout(120)


def test_a_worker_waits_while_another_process_holds_the_lease(env: Env) -> None:
    other = Lease(env.store, REPLAY, ttl_s=30, settle_s=0.2, holder="other-process")
    assert other.acquire()
    worker = env.new_worker()
    worker.guard(Lease(env.store, REPLAY, ttl_s=3, settle_s=0.2, holder="this-process"))
    worker.start()
    try:
        assert _replay(env, "C-ERP-1").status_code == 201
        time.sleep(2.5)  # more than two poll intervals: an unguarded worker would have sent it
        assert env.receiver.requests == []
        other.release()  # the holder stops: this worker takes over and delivers
        deadline = time.monotonic() + 20
        while not env.receiver.requests and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(env.receiver.requests) == 1
    finally:
        worker.stop()
