"""Fixtures of the replay tests: a store with failed postings ingested through the real SDK
and collector, the lineage app with the replay routes, and a real receiver on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from collector.store import Store
from lineage.api.app import create_app
from lineage.core.scope import EVERYTHING
from lineage.core.service import Lineage
from lineage.core.timeparse import to_ms, utcnow
from lineage.core.window import Window
from lineage.replay.service import ReplayService
from lineage.replay.settings import ReplaySettings
from lineage.replay.worker import Worker
from tests.lineage.helpers import HOUR, MIN, Emitter, now_ns
from tests.lineage.replay.receiver import Receiver
from tests.principals import TokenLogin


class FakeClock:
    """A monotonic clock the test moves by hand (rate limits)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _upstream(em: Emitter, cid: str, n: str, t0: int, amount: float, currency: str = "EUR") -> None:
    em.hop(cid, "case", f"CASE-{n}", "case.opened", t0, system="support")
    em.hop(cid, "invoice", f"INV-{n}", "invoice.issued", t0 + 10 * MIN, system="billing",
           parent=("case", f"CASE-{n}"), amount=amount, currency=currency)  # fmt: skip


def build_backlog(em: Emitter, t0: int) -> None:
    """Failed postings, one per refusal rule, plus two replayable ones."""
    for cid, n, amount, outcome in (("C-ERP-1", "1", 500.0, "dead_letter"), ("C-ERP-2", "2", 5000.0, "failed")):
        _upstream(em, cid, n, t0, amount)
        em.hop(cid, "ledger", f"LED-{n}", "ledger.posted", t0 + 20 * MIN, system="erp", outcome=outcome,
               category="erp_unavailable", parent=("invoice", f"INV-{n}"), amount=amount, currency="EUR")  # fmt: skip
    # Retried, then posted: replaying would post twice.
    _upstream(em, "C-DONE", "D", t0, 70.0)
    em.hop("C-DONE", "ledger", "LED-D", "ledger.posted", t0 + 20 * MIN, system="erp", outcome="retry",
           category="erp_unavailable", amount=70.0, currency="EUR")  # fmt: skip
    em.hop("C-DONE", "ledger", "LED-D", "ledger.posted", t0 + 40 * MIN, system="erp", amount=70.0, currency="EUR")
    # A business-rule failure on billing: not a replayable category there.
    em.hop("C-TAX", "case", "CASE-T", "case.opened", t0, system="support")
    em.hop("C-TAX", "invoice", "INV-T", "invoice.issued", t0 + 10 * MIN, system="billing", outcome="dead_letter",
           category="tax_error", amount=90.0, currency="EUR")  # fmt: skip
    # A failure on a system without a replay target.
    em.hop("C-NOTGT", "case", "CASE-N", "case.opened", t0, system="support", outcome="failed", category="timeout")
    # Resolved by hand later in the fixture.
    _upstream(em, "C-RES", "R", t0, 40.0)
    em.hop("C-RES", "ledger", "LED-R", "ledger.posted", t0 + 20 * MIN, system="erp", outcome="failed",
           category="timeout", amount=40.0, currency="EUR")  # fmt: skip
    em.wait()


def targets_yaml(url: str, per_minute: int = 60) -> str:
    return (
        "targets:\n"
        f"  - {{system: erp, url: '{url}', max_per_minute: {per_minute}, approval_over: {{EUR: 1000}},\n"
        "     headers_env: {Authorization: TEST_ERP_REPLAY_AUTH}}\n"
        f"  - {{system: billing, url: '{url}', approval_over: {{EUR: 1000}}}}\n"
    )


@dataclass
class Env:
    store: Store
    lineage: Lineage
    service: ReplayService
    worker: Worker
    client: TestClient
    receiver: Receiver
    emitter: Emitter
    clock: FakeClock
    ids: dict[str, str]  # correlation ID -> exception id

    def new_worker(self) -> Worker:
        """A second worker over the same store, as after a restart."""
        return Worker(self.service, monotonic=self.clock)


def settings(url: str, **overrides: object) -> ReplaySettings:
    base: dict[str, object] = {
        "replay_targets": targets_yaml(url),
        "replay_backoff_s": 0.01,
        "replay_backoff_max_s": 0.02,
        "replay_timeout_s": 2,
        "replay_max_attempts": 3,
    }
    return ReplaySettings(**{**base, **overrides})  # type: ignore[arg-type]


@pytest.fixture
def env(emitter: Emitter, lineage: Lineage, lineage_store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setenv("TEST_ERP_REPLAY_AUTH", "Bearer erp-secret")
    build_backlog(emitter, now_ns() - 2 * HOUR)
    receiver = Receiver()
    app = create_app(lineage.settings, lineage_store, replay=settings(receiver.url))
    worker = app.state.replay_worker
    clock = FakeClock()
    worker.monotonic = clock
    window = Window(to_ms(utcnow()) - 24 * 3600_000, to_ms(utcnow()) + 60_000, 100)
    ids = {x["correlation_id"]: x["id"] for x in lineage.exceptions(EVERYTHING, window, "", "", "")["exceptions"]}
    res = ids["C-RES"]
    lineage.act(EVERYTHING, res, "resolve", "carol", "fixed by hand", 0)
    with TestClient(TokenLogin(app, lineage_store)) as client:
        yield Env(lineage_store, lineage, app.state.replay, worker, client, receiver, emitter, clock, ids)
    worker.stop()
    receiver.close()
