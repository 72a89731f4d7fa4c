"""Two alert evaluators sharing one store: one pages, the other waits and takes over.

Both services run on the same real store with leases of their own holder names, as two
``serve`` processes against one ClickHouse server would.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from alerts.service import AlertService
from collector.store import Store
from collector.store.lease import ALERTS, Lease
from lineage.core.scope import EVERYTHING
from tests.alerts.helpers import HOUR, MIN, T0, hop, recorder, rules_file, service, webhook_receivers
from tests.alerts.test_service import SILENT

pytestmark = pytest.mark.timeout(120)


def _leased(store: Store, rules: Path, url: str, holder: str, ttl_s: float) -> AlertService:
    lease = Lease(store, ALERTS, ttl_s=ttl_s, settle_s=0.2, holder=holder)
    return service(store, rules, webhook_receivers(url), lease=lease)


def test_two_evaluators_page_once_and_the_second_takes_over(store: Store, tmp_path: Path) -> None:
    hop(store, "S0", "case:K0", "case.opened", T0 - 3 * HOUR, system="sap")
    rules = rules_file(tmp_path, SILENT)
    with recorder() as rec:
        a = _leased(store, rules, rec.url, "a", ttl_s=1.5)
        b = _leased(store, rules, rec.url, "b", ttl_s=1.5)
        assert a.lease is not None and b.lease is not None
        assert a.lease.acquire() and not b.lease.acquire()
        for at in (T0, T0 + 5 * MIN, T0 + 6 * MIN):
            assert a.tick(at) is not None
            assert b.tick(at) is None  # waits instead of evaluating
        assert len(rec.bodies) == 1  # paged once, by a
        # a dies without releasing; b takes over after expiry with a's state and log.
        time.sleep(1.7)
        assert not a.leading and b.lease.acquire()
        assert b.tick(T0 + 7 * MIN) == []  # no transition: still firing, as a left it
        assert len(rec.bodies) == 1  # not paged again
        assert a.tick(T0 + 8 * MIN) is None
        # sap speaks again: the resolve is b's to send.
        hop(store, "S9", "case:K9", "case.opened", T0 + 8 * MIN, system="sap")
        b.tick(T0 + 9 * MIN)
        assert [body["status"] for _, body in rec.bodies] == ["firing", "resolved"]
        a.stop()
        b.stop()


def test_a_waiting_evaluator_shows_the_alerts_the_active_one_stored(store: Store, tmp_path: Path) -> None:
    hop(store, "S0", "case:K0", "case.opened", T0 - 3 * HOUR, system="sap")
    rules = rules_file(tmp_path, SILENT)
    with recorder() as rec:
        a = _leased(store, rules, rec.url, "a", ttl_s=30)
        b = _leased(store, rules, rec.url, "b", ttl_s=30)
        assert a.lease is not None and a.lease.acquire()
        a.tick(T0)
        a.tick(T0 + 5 * MIN)
        shown = b.alerts(EVERYTHING)
        assert [alert.labels["system"] for alert, _ in shown] == ["sap"]
        a.stop()
        b.stop()


def test_an_api_only_process_shows_stored_alerts_and_never_evaluates(store: Store, tmp_path: Path) -> None:
    hop(store, "S0", "case:K0", "case.opened", T0 - 3 * HOUR, system="sap")
    rules = rules_file(tmp_path, SILENT)
    with recorder() as rec:
        evaluator = service(store, rules, webhook_receivers(rec.url))
        reader = AlertService(evaluator.settings, store, evaluating=False)
        assert reader.alerts(EVERYTHING) == []
        evaluator.run_once(T0)
        evaluator.run_once(T0 + 5 * MIN)
        assert reader.tick(T0 + 6 * MIN) is None
        assert [alert.labels["system"] for alert, _ in reader.alerts(EVERYTHING)] == ["sap"]
        assert len(rec.bodies) == 1
        evaluator.stop()
        reader.stop()
