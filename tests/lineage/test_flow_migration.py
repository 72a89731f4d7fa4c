"""Migration 103 on a store written before it: compensating spans already stored are derived
again (hops.Compensates), hop_times gains their amounts, and a compensation that was counted
as a failed attempt no longer is."""

from __future__ import annotations

from collector.settings import StoreSettings
from collector.store import migrate, open_store
from ledgerline.schema import MIGRATIONS, migrate_all
from lineage.business import reconcile
from lineage.core.flows import load_flows
from lineage.core.scope import EVERYTHING
from lineage.core.window import Window
from tests.lineage.conftest import make_lineage
from tests.lineage.flow_helpers import DAY, HOUR, T0, Spans


def test_compensations_stored_before_migration_103_are_derived_again(store_settings: StoreSettings) -> None:
    store = open_store(store_settings)
    try:
        migrate(store, tuple(m for m in MIGRATIONS if m.version < 103))
        s = Spans()
        s.add("O1", "invoice:INV-1", "invoice.issued", T0 + HOUR, amount=100)
        s.add(
            "O1", "ledger:JE-1", "ledger.posted", T0 + 2 * HOUR, system="erp", amount=100, parent=("invoice", "INV-1")
        )
        s.add(
            "O1",
            "ledger:REV-1",
            "ledger.reversed",
            T0 + 3 * HOUR,
            system="erp",
            amount=100,
            compensates="ledger:JE-1",
            parent=("invoice", "INV-1"),
        )
        s.add("O1", "invoice:INV-1", "invoice.cancelled", T0 + 4 * HOUR, outcome="compensated")
        s.write(store)
        assert store.query("SELECT count() FROM hop_failures")[0][0] == 1  # the cancellation, before 103
        assert 103 in migrate_all(store)
        rows = store.query("SELECT EntityId, Step, Compensates FROM hops FINAL WHERE Compensates != '' ORDER BY Step")
        assert rows == [("INV-1", "invoice.cancelled", "invoice:INV-1"), ("REV-1", "ledger.reversed", "ledger:JE-1")]
        amounts = store.query("SELECT EntityId, Amount FROM hop_times FINAL WHERE Step = 'ledger.posted'")
        assert amounts == [("JE-1", 100.0)]
        # new spans derive through the recreated views; a compensation is not a failure
        s.add("O2", "invoice:INV-2", "invoice.cancelled", T0 + 5 * HOUR, outcome="compensated")
        s.write(store)
        assert store.query("SELECT count() FROM hop_failures WHERE EntityId = 'INV-2'")[0][0] == 0
        # nor an exception, even where hop_failures still holds its pre-103 row
        lineage = make_lineage(store)
        window = Window(T0, T0 + DAY, 100)
        assert lineage.exceptions(EVERYTHING, window, "", "", "")["exceptions"] == []
        config = load_flows()
        doc = reconcile.summary(
            store,
            config,
            EVERYTHING,
            config.reconciliations["invoice_to_ledger"],
            since_ms=T0,
            until_ms=T0 + DAY,
            bucket_ms=DAY,
            by_legal_entity=False,
            limit=10,
        )
        (row,) = doc["buckets"]
        assert (row["compensated"], row["break_count"], row["left"]["amount"], row["right"]["amount"]) == (1, 0, 0, 0)
    finally:
        store.command("DROP DATABASE IF EXISTS {db:Identifier}", {"db": store.database})


def test_failure_details_stored_before_migration_104_reach_hop_times(store_settings: StoreSettings) -> None:
    """Migration 104: failed attempts stored before it gain their category and message on
    hop_times, so the exception listing (now read from hop_times) still shows them, and a
    stuck listing still sees the transaction's failure."""
    store = open_store(store_settings)
    try:
        migrate(store, tuple(m for m in MIGRATIONS if m.version < 104))
        cols = (
            "Timestamp",
            "TraceId",
            "SpanId",
            "ServiceName",
            "SpanName",
            "SpanAttributes",
            "StatusCode",
            "StatusMessage",
        )
        attrs = {
            "correlation.id": "M1",
            "biz.flow": "support_credit",
            "biz.entity.type": "ledger",
            "biz.entity.id": "JE-9",
            "biz.step": "ledger.posted",
            "biz.outcome": "failed",
            "biz.error.category": "tax_error",
        }
        store.insert(
            "otel_traces",
            [((T0 + HOUR) * 1_000_000, "a" * 32, "b" * 16, "erp", "ledger.posted", attrs, "Error", "VAT code missing")],
            cols,
        )
        assert 104 in migrate_all(store)
        row = store.query("SELECT ErrorCategory, StatusMessage FROM hop_times FINAL WHERE EntityId = 'JE-9'")
        assert row == [("tax_error", "VAT code missing")]
        (exc,) = make_lineage(store).exceptions(EVERYTHING, Window(T0, T0 + DAY, 10), "", "", "")["exceptions"]
        assert (exc["category"], exc["message"], exc["entity_id"]) == ("tax_error", "VAT code missing", "JE-9")
    finally:
        store.command("DROP DATABASE IF EXISTS {db:Identifier}", {"db": store.database})


def test_migration_105_recompresses_without_losing_a_hop(store_settings: StoreSettings) -> None:
    """Migration 105 only changes codecs: hops stored before it read back the same, and the ID
    columns of the derived tables are written with ZSTD from then on."""
    store = open_store(store_settings)
    try:
        migrate(store, tuple(m for m in MIGRATIONS if m.version < 105))
        s = Spans()
        s.add("Z1", "invoice:INV-Z1", "invoice.issued", T0 + HOUR, amount=10)
        s.add("Z1", "ledger:JE-Z1", "ledger.posted", T0 + 2 * HOUR, parent=("invoice", "INV-Z1"))
        s.write(store)
        read = "SELECT EntityId, TraceId, SpanId FROM hops FINAL ORDER BY EntityId"
        before = store.query(read)
        assert 105 in migrate_all(store)
        store.command("OPTIMIZE TABLE hops FINAL")  # rewrite the stored part with the new codecs
        assert store.query(read) == before and len(before) == 2
        codecs = dict(
            store.query(
                "SELECT table || '.' || name, compression_codec FROM system.columns "
                "WHERE database = currentDatabase() AND name IN ('TraceId', 'KeyId', 'EndTime')"
            )
        )
        assert "ZSTD" in codecs["hops.TraceId"] and "ZSTD" in codecs["hop_keys.KeyId"]
        assert "Delta" in codecs["hop_times.EndTime"]
    finally:
        store.command("DROP DATABASE IF EXISTS {db:Identifier}", {"db": store.database})
