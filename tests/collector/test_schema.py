"""The schema contract: exporter-compatible otel_traces, idempotent migrations, key seeks."""

from __future__ import annotations

from bench.payloads import hop_request
from collector.sinks import NativeSink
from collector.store import Store, StoreSettings, migrate, open_store
from collector.writer import Payload
from ledgerline.schema import MIGRATIONS, migrate_all

# The OpenTelemetry Collector ClickHouse exporter's otel_traces columns and types.
EXPORTER_COLUMNS = {
    "Timestamp": "DateTime64(9)",
    "TraceId": "String",
    "SpanId": "String",
    "ParentSpanId": "String",
    "TraceState": "String",
    "SpanName": "LowCardinality(String)",
    "SpanKind": "LowCardinality(String)",
    "ServiceName": "LowCardinality(String)",
    "ResourceAttributes": "Map(LowCardinality(String), String)",
    "ScopeName": "String",
    "ScopeVersion": "String",
    "SpanAttributes": "Map(LowCardinality(String), String)",
    "Duration": "UInt64",
    "StatusCode": "LowCardinality(String)",
    "StatusMessage": "String",
    "Events.Timestamp": "Array(DateTime64(9))",
    "Events.Name": "Array(LowCardinality(String))",
    "Events.Attributes": "Array(Map(LowCardinality(String), String))",
    "Links.TraceId": "Array(String)",
    "Links.SpanId": "Array(String)",
    "Links.TraceState": "Array(String)",
    "Links.Attributes": "Array(Map(LowCardinality(String), String))",
}


def test_otel_traces_matches_the_exporter(store: Store) -> None:
    rows = store.query(
        "SELECT name, type, default_kind FROM system.columns WHERE database = {db:String} AND table = 'otel_traces'",
        {"db": store.database},
    )
    insertable = {name: kind for name, kind, default in rows if default != "MATERIALIZED"}
    assert insertable == EXPORTER_COLUMNS
    assert ("CorrelationId", "String", "MATERIALIZED") in rows


def test_migrations_are_recorded_and_idempotent(store: Store) -> None:
    versions = [v for (v,) in store.query("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == [m.version for m in MIGRATIONS]
    assert migrate_all(store) == []
    assert store.query("SELECT count() FROM schema_migrations") == [(len(MIGRATIONS),)]


def _explain(store: Store, sql: str, params: dict[str, str]) -> str:
    return "\n".join(row[0] for row in store.query(f"EXPLAIN indexes = 1 {sql}", params))


def test_lookups_are_primary_key_seeks(store: Store) -> None:
    NativeSink(store)([Payload(hop_request(50, seed=1).SerializeToString(), 50)])
    by_correlation = _explain(store, "SELECT * FROM hops WHERE CorrelationId = {c:String}", {"c": "C-1"})
    assert "PrimaryKey" in by_correlation and "Keys:" in by_correlation
    assert "CorrelationId" in by_correlation.split("PrimaryKey", 1)[1]
    by_entity = _explain(
        store,
        "SELECT CorrelationId FROM hop_keys WHERE KeyKind = 'entity' AND KeyType = {t:String} AND KeyId = {i:String}",
        {"t": "invoice", "i": "INV-1"},
    )
    key_part = by_entity.split("PrimaryKey", 1)[1]
    assert "KeyType" in key_part and "KeyId" in key_part
    edges = _explain(
        store,
        "SELECT * FROM entity_edges WHERE KeyType = {t:String} AND KeyId = {i:String}",
        {"t": "invoice", "i": "X"},
    )
    assert "KeyId" in edges.split("PrimaryKey", 1)[1]


# The hop that produced each key-table row, as (TraceId, SpanId).
_KEY_TABLES = {
    "entity_edges": "TraceId, SpanId",
    "hop_keys": "TraceId, SpanId",
    "span_links": "if(Direction = 'out', KeyTraceId, OtherTraceId), if(Direction = 'out', KeySpanId, OtherSpanId)",
}


def test_scope_columns_migration_derives_old_and_new_rows(store_settings: StoreSettings) -> None:
    """Version 102 on a store with data: every key row, stored before or ingested after, has a
    copy carrying its hop's legal entity and region."""
    store = open_store(store_settings)
    try:
        migrate(store, tuple(m for m in MIGRATIONS if m.version < 102))
        NativeSink(store)([Payload(hop_request(40, seed=3).SerializeToString(), 40)])
        assert 102 in migrate_all(store) and migrate_all(store) == []
        NativeSink(store)([Payload(hop_request(40, seed=4).SerializeToString(), 40)])
        for table, hop in _KEY_TABLES.items():
            scoped = f"SELECT {hop} FROM {table} WHERE Region != ''"
            without = store.query(f"SELECT count() FROM {table} WHERE ({hop}) NOT IN ({scoped})")[0][0]
            wrong = store.query(
                f"SELECT count() FROM {table} WHERE Region != '' AND ({hop}, LegalEntity, Region) NOT IN "
                "(SELECT TraceId, SpanId, LegalEntity, Region FROM hops)"
            )[0][0]
            assert (without, wrong) == (0, 0), table
        assert store.query("SELECT count() FROM hop_keys WHERE Region != ''")[0][0] >= 80
    finally:
        store.command("DROP DATABASE IF EXISTS {db:Identifier}", {"db": store.database})
