"""Migrations 8 and 108 change codecs only: a store written before them (the previous release's
schema) keeps every row, every column keeps its type, and the measured codecs are in place."""

from __future__ import annotations

from typing import Any

from collector.settings import StoreSettings
from collector.store import Store, migrate, open_store
from ledgerline.schema import MIGRATIONS, migrate_all
from lineage.core import rollups
from lineage.core.scope import EVERYTHING
from tests.lineage.conftest import make_lineage
from tests.lineage.flow_helpers import HOUR, MIN, T0, Spans

_NEW = {8, 108}
_TABLES = ("otel_traces", "hops", "hop_times", "hop_keys", "entity_edges", "hop_rollup", "open_txns")
# Each changed table's rows in a stable order, aggregate states as their bytes.
_ROWS = "SELECT toString(tuple(*)) AS row FROM {table:Identifier} ORDER BY row"
_COLUMNS = """
SELECT table || '.' || name, type, default_kind, default_expression, compression_codec FROM system.columns
WHERE database = currentDatabase() AND table IN {tables:Array(String)} ORDER BY table, position
"""


def _write(store: Store, cid: str, t0: int) -> None:
    s = Spans()
    s.add(cid, "case:CASE-" + cid, "case.opened", t0)
    s.add(cid, "invoice:INV-" + cid, "invoice.issued", t0 + MIN, amount=148.1, parent=("case", "CASE-" + cid))
    s.add(cid, "ledger:JE-" + cid, "ledger.posted", t0 + 2 * MIN, system="erp", outcome="timeout", amount=148.1)
    s.add(cid, "ledger:JE-" + cid, "ledger.posted", t0 + 3 * MIN, system="erp", amount=148.1)
    s.write(store)
    rollups.seal(store, margin_ms=0)


def _snapshot(store: Store) -> dict[str, list[tuple[object, ...]]]:
    return {table: store.query(_ROWS, {"table": table}) for table in _TABLES}


def _columns(store: Store) -> dict[str, tuple[str, str, str, str]]:
    rows = store.query(_COLUMNS, {"tables": list(_TABLES)})
    return {str(r[0]): (str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows}


def _document(store: Store, cid: str) -> dict[str, Any]:
    """The transaction's lineage document, less what moves with the clock (exception ages)."""
    doc = make_lineage(store).transaction(EVERYTHING, cid)
    assert doc is not None, cid
    return {**doc, "exceptions": [{k: v for k, v in e.items() if k != "age_ms"} for e in doc["exceptions"]]}


def test_codec_migrations_carry_a_stored_store_forward(store_settings: StoreSettings) -> None:
    store = open_store(store_settings)
    try:
        migrate(store, tuple(m for m in MIGRATIONS if m.version not in _NEW))
        _write(store, "K1", T0 + HOUR)
        before, columns_before = _snapshot(store), _columns(store)
        doc_before = _document(store, "K1")
        assert all(before.values()), {t: len(rows) for t, rows in before.items()}

        assert set(migrate_all(store)) >= _NEW
        columns = _columns(store)
        # Only codecs changed: every column keeps its type and its default or materialized expression.
        assert {c: v[:3] for c, v in columns.items()} == {c: v[:3] for c, v in columns_before.items()}
        codecs = {c: v[3] for c, v in columns.items() if v[3] != columns_before[c][3]}
        assert codecs["otel_traces.SpanAttributes"] == "CODEC(ZSTD(3))"
        assert codecs["hop_keys.StartTime"] == "CODEC(T64, ZSTD(1))"
        assert codecs["hop_times.StartTime"] == "CODEC(Delta(8), ZSTD(1))"
        assert codecs["hops.Step"] == "CODEC(ZSTD(1))"  # LowCardinality had ClickHouse's default LZ4
        assert codecs["hop_rollup.Duration"] == "CODEC(ZSTD(1))"
        assert codecs["open_txns.FirstStart"] == "CODEC(Delta(8), ZSTD(1))"
        assert {c.split(".")[0] for c in codecs} == set(_TABLES)

        assert _snapshot(store) == before  # the stored parts, read under the new schema
        for table in _TABLES:
            store.command(f"OPTIMIZE TABLE {table} FINAL")  # rewritten with the new codecs
        assert _snapshot(store) == before
        assert _document(store, "K1") == doc_before

        # Written after the migration (new codecs from the start), merged with the old rows.
        _write(store, "K2", T0 + 2 * HOUR)
        for table in _TABLES:
            store.command(f"OPTIMIZE TABLE {table} FINAL")
        doc = _document(store, "K2")
        assert doc["status"] == "complete", doc
        assert sorted((h["entity_id"], h["attempts"]) for h in doc["hops"]) == [
            ("CASE-K2", 1),
            ("INV-K2", 1),
            ("JE-K2", 2),
        ]
        assert _document(store, "K1") == doc_before
    finally:
        store.command("DROP DATABASE IF EXISTS {db:Identifier}", {"db": store.database})
