"""Lineage migrations: idempotent, and they backfill hops stored before they ran."""

from __future__ import annotations

from collector.migrations import migrate
from collector.store import Store
from lineage import schema
from tests.lineage.conftest import make_lineage
from tests.lineage.helpers import HOUR, Emitter, complete_txn, now_ns


def test_backfill_and_rerun(collector: object, store: Store) -> None:
    em = Emitter(collector.http_endpoint, store)  # type: ignore[attr-defined]
    try:
        complete_txn(em, "C-OLD", now_ns() - 3 * HOUR, n="OLD")
        em.hop("C-OLD", "ledger", "LED-X", "ledger.posted", now_ns() - 4 * HOUR, outcome="failed", category="timeout")
        em.wait()
    finally:
        em.close()
    assert migrate(store, schema.MIGRATIONS) == [100, 101, 170, 171]
    assert migrate(store, schema.MIGRATIONS) == []
    # Re-running the statements (an interrupted migration) must not double count.
    for statement in schema.MIGRATIONS[1].statements:
        store.command(statement)
    assert store.query("SELECT count() FROM hop_times FINAL")[0][0] == 5
    assert store.query("SELECT count() FROM (SELECT DISTINCT * FROM hop_failures)")[0][0] == 1
    lineage = make_lineage(store)
    from lineage import metrics
    from lineage.service import Window
    from lineage.timeparse import to_ms, utcnow

    now = to_ms(utcnow())
    doc = metrics.posting_latency(lineage, lineage.config.flow(None), Window(now - 86400_000, now, 100), 86400_000, "")
    assert sum(b["count"] for b in doc["buckets"]) == 1
    [exc] = lineage.exceptions(Window(now - 86400_000, now, 100), "", "", "")["exceptions"]
    assert (exc["entity_id"], exc["state"], exc["attempts"]) == ("LED-X", "open", 1)
