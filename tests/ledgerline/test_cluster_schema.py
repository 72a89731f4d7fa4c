"""The cluster schema of the real migrations: a golden file, ClickHouse's parser, and the
single-node rendering unchanged.

Regenerate the golden file after a deliberate schema change with
``LEDGERLINE_CLICKHOUSE_DATABASE=ledgerline ledgerline migrate --cluster ledgerline --print-sql
> tests/fixtures/cluster-schema.sql`` and review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.settings import CollectorSettings
from collector.store import Store, StoreSettings, open_store
from collector.store.cluster import ClusterRenderer, Sharded
from collector.store.errors import ConfigError
from collector.store.queries import CREATE_SCHEMA_MIGRATIONS
from ledgerline.cli import main
from ledgerline.schema import CLUSTER_LAYOUT, MIGRATIONS, pending, render_all, renderer
from ledgerline.server import open_and_migrate
from lineage.evidence.retention import LINEAGE, RAW, ttl_statement
from lineage.evidence.settings import EvidenceSettings

GOLDEN = Path(__file__).parent.parent / "fixtures" / "cluster-schema.sql"
CLUSTER = ClusterRenderer("ledgerline", "ledgerline", CLUSTER_LAYOUT)


def _cluster_statements() -> list[str]:
    single = [CREATE_SCHEMA_MIGRATIONS, *(s for m in MIGRATIONS for s in m.statements)]
    single += [ttl_statement(t, c) for t, c in {**RAW, **LINEAGE}.items()]
    return [CLUSTER.create_database(), *(r for s in single for r in CLUSTER.render(s))]


def test_the_cluster_schema_matches_the_golden_file() -> None:
    assert render_all("ledgerline", "ledgerline") == GOLDEN.read_text()


def test_every_cluster_statement_parses_with_clickhouses_parser(store: Store) -> None:
    statements = _cluster_statements()
    assert len(statements) > 60
    for sql in statements:
        formatted = str(store.query("SELECT formatQuery({q:String})", {"q": sql})[0][0])
        if not formatted.startswith("INSERT"):
            assert "ON CLUSTER ledgerline" in formatted, sql


def test_derived_rows_of_a_transaction_share_a_shard_and_views_read_local_tables() -> None:
    golden = GOLDEN.read_text()
    for table in ("hops", "hop_times", "hop_failures"):
        assert CLUSTER_LAYOUT[table] == Sharded("cityHash64(CorrelationId)")
    assert CLUSTER_LAYOUT["otel_traces"] == Sharded("cityHash64(TraceId)")
    # Each view fires where its source rows are stored and writes through a Distributed table.
    assert "TO hops AS" in golden and "FROM otel_traces_local" in golden
    for view in ("entity_edges_mv", "hop_keys_mv", "span_links_mv", "hop_times_mv", "hop_failures_mv"):
        statement = next(s for s in golden.split(";\n") if f"VIEW IF NOT EXISTS {view} " in s)
        assert "FROM hops_local" in statement, view
    assert "ENGINE = KeeperMap('/ledgerline/ledgerline/leases') PRIMARY KEY Key" in golden
    assert (
        "ReplicatedReplacingMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}') ORDER BY version"
        in golden
    )


def test_the_single_node_rendering_is_the_migrations_as_written(store: Store) -> None:
    render = renderer(None, store.database)
    for migration in MIGRATIONS:
        for statement in migration.statements:
            assert render(statement) == [statement]
    # ... and it is what the store fixture applied on the embedded engine.
    applied = [v for (v,) in store.query("SELECT version FROM schema_migrations ORDER BY version")]
    assert applied == [m.version for m in MIGRATIONS]


def test_migrate_print_sql_prints_without_applying(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the default embedded store would be ./.ledgerline
    assert main(["migrate", "--cluster", "ledgerline", "--print-sql"]) == 0
    assert capsys.readouterr().out == GOLDEN.read_text()
    assert list(tmp_path.iterdir()) == []  # no store opened


def test_migrate_print_sql_without_a_cluster_prints_the_single_node_schema(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["migrate", "--print-sql"]) == 0
    out = capsys.readouterr().out
    assert "ON CLUSTER" not in out and "CREATE TABLE IF NOT EXISTS hops (" in out


def test_a_bad_cluster_name_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", "--cluster", "x'y", "--print-sql"]) == 2
    assert "clickhouse_cluster" in capsys.readouterr().err.lower()


def test_serve_on_a_cluster_changes_no_schema_and_refuses_a_schema_behind(
    store: Store, store_settings: StoreSettings
) -> None:
    # The store fixture's database has every migration: serve opens it and changes nothing.
    settings = CollectorSettings(**{**store_settings.model_dump(), "clickhouse_cluster": "ledgerline"})
    opened = open_and_migrate(settings, EvidenceSettings())
    assert pending(opened) == []
    opened.close()
    behind = CollectorSettings(**{**settings.model_dump(), "clickhouse_database": f"{store.database}_new"})
    with pytest.raises(ConfigError, match="run `ledgerline migrate --cluster ledgerline` first"):
        open_and_migrate(behind, EvidenceSettings())
    fresh = open_store(behind)  # nothing was created in it but the (empty) database
    assert fresh.query("SELECT count() FROM system.tables WHERE database = currentDatabase()") == [(0,)]
    fresh.command("DROP DATABASE IF EXISTS {db:Identifier}", {"db": fresh.database})
    fresh.close()
