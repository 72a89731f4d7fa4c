"""The simulator's month end against a running collector and the lineage API: one legal entity
blocked, one ready, one signed off and then decertified by a late posting."""

from __future__ import annotations

import io
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.service import UvicornThread
from ledgerline.simulator import SimConfig, run_simulation
from ledgerline.simulator.model import run_tag
from ledgerline.simulator.monthend import BLOCKED, DECERTIFIED, READY, CloseStory, period_of
from lineage.api.app import create_app
from lineage.auth.principal import Principal
from lineage.close import service, signoff
from lineage.close.config import load_close
from lineage.core.flows import load_flows
from lineage.core.scope import EVERYTHING
from lineage.evidence.sealer import Sealer
from tests.conftest import RunningCollector
from tests.lineage.conftest import make_lineage
from tests.lineage.evidence.conftest import make_service

AUDITOR = Principal("auditor@test.example", "auditor", EVERYTHING)


def _stored(collector: RunningCollector, n: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if collector.store.query("SELECT count() FROM hops WHERE CorrelationId LIKE 'month-end-%'")[0][0] >= n:
            return
        time.sleep(0.2)
    raise AssertionError("the month end's hops were not stored")


def test_the_month_end_blocks_one_entity_readies_another_and_decertifies_a_third(
    collector: RunningCollector,
) -> None:
    now = time.time_ns()
    config = SimConfig(seed=5, backfill_s=3600, backfill_count=5, endpoint=collector.http_endpoint, now_ns=now,
                       live=False, month_end=True)  # fmt: skip
    key = Ed25519PrivateKey.generate()
    lineage, close = make_lineage(collector.store), load_close(load_flows())
    period = period_of(BLOCKED, now)[0]
    app = create_app(lineage.settings, collector.store, close=close, evidence=make_service(collector.store, key, 0))
    server = UvicornThread(app, "127.0.0.1", 0)
    server.start()
    out = io.StringIO()
    try:
        # started first, as the demo does: an empty period is ready too, but the story waits for its history
        story = CloseStory(collector.store, f"http://127.0.0.1:{server.port}", config, out, wait_s=60, pause_s=0)
        story.start()
        time.sleep(3)  # time to find the (still empty) period ready and sign it, were it not waiting
        summary = run_simulation(config, out=None)
        assert summary.spans_month_end == 16 and summary.spans_failed == 0
        assert summary.spans_sent == summary.spans_emitted
        _stored(collector, 16)
        Sealer(collector.store, key, margin_s=0).seal_now()
        tag = run_tag(5)
        blocked = service.gate(lineage, close, EVERYTHING, BLOCKED, period)
        assert blocked["status"] == "blocked"
        not_posted = {i["entity_id"] for i in blocked["groups"]["not_posted"]["items"]}
        assert not_posted == {f"ME-INV-{tag}-DE-3", f"ME-INV-{tag}-DE-4"}  # DE-4: dated the last day
        assert [i["entity_id"] for i in blocked["groups"]["cut_off"]["items"]] == [f"ME-INV-{tag}-DE-2"]
        assert service.gate(lineage, close, EVERYTHING, READY, period)["status"] == "ready"
        story.thread.join(120)
    finally:
        story.stop()
        server.stop()
    certified = "SELECT count() FROM close_certified_hops WHERE LegalEntity = {le:String}"
    assert collector.store.query(certified, {"le": DECERTIFIED})[0][0] == 4  # FR-1 and FR-2, both hops
    assert story.outcome == "decertified", out.getvalue()
    after = signoff.status(lineage, close, AUDITOR, DECERTIFIED, period)
    assert [r["action"] for r in after["sign_off"]["rounds"]] == ["prepared", "reviewed"]
    assert {r["subject"] for r in after["sign_off"]["rounds"]} == {"preparer@ledgerline.local",
                                                                    "reviewer@ledgerline.local"}  # fmt: skip
    assert after["status"] == "decertified" and after["sign_off"]["changed"] == ["unsealed"]
    Sealer(collector.store, key, margin_s=0).seal_now()  # sealed, the late hops change the commitment
    sealed = signoff.status(lineage, close, AUDITOR, DECERTIFIED, period)
    assert sealed["status"] == "decertified" and sealed["sign_off"]["changed"] == ["hops"]
    assert "signed" in out.getvalue() and "decertified" in out.getvalue()
