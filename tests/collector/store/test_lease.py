"""Leases on one store: one holder at a time, renewal, takeover after expiry, release.

Two ``Lease`` objects with different holders share one real (embedded) store, as two
processes share a ClickHouse server. Expiry runs on the store's clock, so the TTLs are short
and the tests wait for them.
"""

from __future__ import annotations

import threading
import time

import pytest

from collector.store import Store
from collector.store.lease import Lease, LeaseKeeper

pytestmark = pytest.mark.timeout(120)


def _pair(store: Store, name: str = "evaluator", ttl_s: float = 1.5) -> tuple[Lease, Lease]:
    return (
        Lease(store, name, ttl_s=ttl_s, settle_s=0.2, holder="a"),
        Lease(store, name, ttl_s=ttl_s, settle_s=0.2, holder="b"),
    )


def test_one_holder_renews_while_the_other_waits(store: Store) -> None:
    a, b = _pair(store, ttl_s=6)
    assert a.acquire() and a.held
    assert not b.acquire() and not b.held
    assert a.acquire()  # renewal
    assert not b.acquire()
    claim = a.current()
    assert claim is not None and claim.holder == "a" and claim.live and claim.version == 2
    assert Lease(store, "other", holder="b").acquire()  # leases are independent


def test_the_waiting_process_takes_over_after_expiry(store: Store) -> None:
    a, b = _pair(store)
    assert a.acquire()
    assert not b.acquire()
    time.sleep(1.7)  # a stopped renewing (a stalled or dead process)
    assert not a.held  # a's own deadline passed before the store's expiry
    assert b.acquire() and b.held
    assert not a.acquire()  # a came back: it waits now


def test_release_hands_over_at_once(store: Store) -> None:
    a, b = _pair(store, ttl_s=30)
    assert a.acquire()
    a.release()
    assert not a.held
    assert b.acquire()


def _claim(lease: Lease, start: threading.Barrier, won: dict[str, bool]) -> None:
    start.wait()
    won[lease.holder] = lease.acquire()


def test_two_processes_claiming_a_free_lease_at_once_get_one_holder(store: Store) -> None:
    for round_ in range(4):
        leases = [Lease(store, f"race{round_}", ttl_s=6, settle_s=0.3, holder=h) for h in ("p", "q", "r")]
        start = threading.Barrier(len(leases))
        won: dict[str, bool] = {}

        threads = [threading.Thread(target=_claim, args=(lease, start, won)) for lease in leases]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(won.values()) == 1, won
        holder = leases[0].current()
        assert holder is not None and won[holder.holder]


def test_a_keeper_renews_in_the_background_and_releases_on_stop(store: Store) -> None:
    a, b = _pair(store)
    keeper = LeaseKeeper(a)
    keeper.start()
    try:
        assert keeper.wait(5)
        time.sleep(2.5)  # longer than the TTL: only renewals keep it
        assert keeper.held and not b.acquire()
    finally:
        keeper.release()
    assert not a.held and b.acquire()


def test_old_claims_are_pruned(store: Store) -> None:
    a = Lease(store, "pruned", ttl_s=6, settle_s=0.2, holder="a")
    for _ in range(100):
        assert a.acquire()
    rows = store.query("SELECT count(), min(Version), max(Version) FROM leases WHERE Name = 'pruned'")
    assert rows == [(11, 90, 100)]
