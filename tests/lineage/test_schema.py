"""Lineage migrations: idempotent, and they backfill hops stored before they ran."""

from __future__ import annotations

from collector.store import Store, StoreSettings, migrate, open_store
from ledgerline.schema import MIGRATIONS, migrate_all
from lineage import schema
from lineage.core.scope import EVERYTHING
from tests.conftest import start_collector
from tests.lineage.conftest import make_lineage
from tests.lineage.helpers import HOUR, Emitter, complete_txn, now_ns


def test_backfill_and_rerun(store_settings: StoreSettings) -> None:
    store: Store = open_store(store_settings)
    try:
        # A store as release 0.1.0's collector left it: raw spans, hops and keys only.
        assert migrate(store, [m for m in MIGRATIONS if m.version <= 5]) == [1, 2, 3, 4, 5]
        collector = start_collector(store)
        em = Emitter(f"http://127.0.0.1:{collector.http_port}/v1/traces", store)
        try:
            complete_txn(em, "C-OLD", now_ns() - 3 * HOUR, n="OLD")
            em.hop(
                "C-OLD", "ledger", "LED-X", "ledger.posted", now_ns() - 4 * HOUR, outcome="failed", category="timeout"
            )
            em.wait()
        finally:
            em.close()
            collector.stop()
        applied = migrate_all(store)
        assert applied == [m.version for m in MIGRATIONS if m.version > 5] and {100, 101} <= set(applied)
        assert migrate_all(store) == []
        # Re-running the statements (an interrupted migration) must not double count.
        for statement in next(m for m in schema.MIGRATIONS if m.version == 101).statements:
            store.command(statement)
        assert store.query("SELECT count() FROM hop_times FINAL")[0][0] == 5
        assert store.query("SELECT count() FROM (SELECT DISTINCT * FROM hop_failures)")[0][0] == 1
        lineage = make_lineage(store)
        from lineage.business import metrics
        from lineage.core.timeparse import to_ms, utcnow
        from lineage.core.window import Window

        now = to_ms(utcnow())
        day = Window(now - 86400_000, now, 100)
        doc = metrics.posting_latency(lineage, EVERYTHING, lineage.config.flow(None), day, 86400_000, "")
        assert sum(b["count"] for b in doc["buckets"]) == 1
        [exc] = lineage.exceptions(EVERYTHING, day, "", "", "")["exceptions"]
        assert (exc["entity_id"], exc["state"], exc["attempts"]) == ("LED-X", "open", 1)
    finally:
        store.command("DROP DATABASE IF EXISTS {db:Identifier}", {"db": store.database})
        store.close()
