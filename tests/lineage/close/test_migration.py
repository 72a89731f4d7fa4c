"""Migration 182 on a store written before it: spans that carried ``biz.posting_date`` /
``biz.period`` are derived again, so the close gate reads the business dates of old hops too."""

from __future__ import annotations

from collector.settings import StoreSettings
from collector.store import migrate, open_store
from ledgerline.schema import MIGRATIONS, migrate_all
from tests.lineage.flow_helpers import HOUR, T0, Spans

DATES = "SELECT EntityId, PostingDate, BizPeriod FROM {table:Identifier} FINAL ORDER BY EntityId"


def test_business_dates_stored_before_migration_182_are_derived_again(store_settings: StoreSettings) -> None:
    store = open_store(store_settings)
    try:
        migrate(store, tuple(m for m in MIGRATIONS if m.version < 182))
        s = Spans()
        s.add("O1", "invoice:INV-1", "invoice.issued", T0 + HOUR, amount=100)
        s.rows[-1][5]["biz.posting_date"] = "2026-11-30"
        s.add("O2", "invoice:INV-2", "invoice.issued", T0 + HOUR, amount=50)
        s.rows[-1][5]["biz.period"] = "2026-13"  # kept as sent: the gate names it
        s.add("O3", "invoice:INV-3", "invoice.issued", T0 + HOUR, amount=10)
        s.write(store)
        assert 182 in migrate_all(store)
        want = [("INV-1", "2026-11-30", ""), ("INV-2", "", "2026-13"), ("INV-3", "", "")]
        assert store.query(DATES, {"table": "hops"}) == want
        assert store.query(DATES, {"table": "hop_times"}) == want
        # new spans derive through the recreated views
        s.add("O4", "invoice:INV-4", "invoice.issued", T0 + 2 * HOUR, amount=10)
        s.rows[-1][5]["biz.period"] = "2026-11"
        s.write(store)
        assert store.query(DATES + " LIMIT 1 OFFSET 3", {"table": "hop_times"}) == [("INV-4", "", "2026-11")]
    finally:
        store.command("DROP DATABASE IF EXISTS {db:Identifier}", {"db": store.database})
