"""Two ``serve`` processes' alert evaluators and sealers on one store: one active, one waiting.

``serve`` takes leases only against a ClickHouse server (the embedded store has one owner
process); here the lease is forced on, so two servers in this process share one real store
as two processes share a server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from collector.settings import CollectorSettings
from collector.store import Store, StoreSettings
from collector.store.lease import Lease
from ledgerline.server import Server

pytestmark = pytest.mark.timeout(120)
WORKERS = frozenset({"alerts", "sealer"})


class LeasedServer(Server):
    """``serve`` as against a ClickHouse server: the singleton workers run under leases."""

    def _lease(self, name: str) -> Lease | None:
        return Lease(self.store, name, ttl_s=3, settle_s=0.5)


def _until(check: Callable[[], bool], timeout_s: float = 15) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_one_server_evaluates_and_seals_and_the_other_takes_over(
    store: Store, store_settings: StoreSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGERLINE_DATA_DIR", str(tmp_path))  # one seal key for both
    settings = CollectorSettings(**{**store_settings.model_dump(), "data_dir": tmp_path})
    a = LeasedServer(settings, components=WORKERS)
    b = LeasedServer(settings, components=WORKERS)
    a.start()
    b.start()
    try:
        assert a.evidence is not None and b.evidence is not None
        servers = (a, b)
        assert _until(lambda: sum(s.alerts.leading for s in servers) == 1)
        assert _until(lambda: sum(s.evidence.sealer.leading for s in servers if s.evidence) == 1)
        for _ in range(10):  # and it stays that way while both renew
            assert sum(s.alerts.leading for s in servers) == 1
            assert sum(s.evidence.sealer.leading for s in servers if s.evidence) == 1
            time.sleep(0.3)
        leader, other = (a, b) if a.alerts.leading else (b, a)
        leader.stop()  # releases both leases
        assert _until(lambda: other.alerts.leading and other.evidence is not None and other.evidence.sealer.leading)
    finally:
        for server in (a, b):
            if server.alerts is not None:
                server.stop()
