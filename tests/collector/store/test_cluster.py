"""The cluster renderer: top-level rewriting only, every table placed, every statement parses.

No ClickHouse cluster runs here: statements are checked with ClickHouse's own parser
(``formatQuery`` on the embedded engine), not executed.
"""

from __future__ import annotations

import pytest

from collector.store import Store
from collector.store.cluster import ClusterRenderer, Everywhere, Keeper, Layout, PerNode, RenderError, Sharded

LAYOUT: Layout = {
    "spans": Sharded("cityHash64(TraceId)"),
    "derived": Sharded("cityHash64(CorrelationId)"),
    "control": Everywhere(),
    "staging": PerNode(),
    "locks": Keeper("Key"),
}
R = ClusterRenderer("prod", "ledgerline", LAYOUT)


def parses(store: Store, sql: str) -> str:
    """ClickHouse's formatting of ``sql`` (raises when its parser refuses it)."""
    return str(store.query("SELECT formatQuery({q:String})", {"q": sql})[0][0])


def test_a_sharded_table_becomes_a_replicated_local_table_and_a_distributed_one(store: Store) -> None:
    local, dist = R.render(
        "CREATE TABLE IF NOT EXISTS derived (CorrelationId String, V UInt64)\n"
        "ENGINE = ReplacingMergeTree(V)\nPARTITION BY tuple()\nORDER BY CorrelationId\n"
    )
    assert local.startswith("CREATE TABLE IF NOT EXISTS derived_local ON CLUSTER 'prod' (")
    assert (
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', V)"
        in local
    )
    assert local.endswith("PARTITION BY tuple()\nORDER BY CorrelationId\n")  # the rest as written
    assert dist == (
        "CREATE TABLE IF NOT EXISTS derived ON CLUSTER 'prod' AS derived_local\n"
        "ENGINE = Distributed('prod', 'ledgerline', 'derived_local', cityHash64(CorrelationId))\n"
    )
    for sql in (local, dist):
        assert "ON CLUSTER prod" in parses(store, sql)


def test_control_tables_are_replicated_to_every_node_and_keeper_tables_use_keepermap(store: Store) -> None:
    [control] = R.render("CREATE TABLE control (Id String) ENGINE = MergeTree ORDER BY Id")
    assert control == (
        "CREATE TABLE control ON CLUSTER 'prod' (Id String) "
        "ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}') ORDER BY Id"
    )
    [staging] = R.render("CREATE TABLE IF NOT EXISTS staging (b String) ENGINE = Null")
    assert staging == "CREATE TABLE IF NOT EXISTS staging ON CLUSTER 'prod' (b String) ENGINE = Null"
    [locks] = R.render("CREATE TABLE locks (Key String, V UInt64) ENGINE = MergeTree ORDER BY Key TTL now()")
    assert locks.endswith("ENGINE = KeeperMap('/ledgerline/ledgerline/locks') PRIMARY KEY Key\n")
    for sql in (control, staging, locks):
        parses(store, sql)


def test_views_read_the_local_table_and_write_through_the_distributed_one() -> None:
    [view] = R.render(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS derived_mv TO derived AS\n"
        "SELECT CorrelationId, 'FROM spans' AS note, (SELECT 1 FROM control) AS one FROM spans WHERE x = 'spans'"
    )
    assert view == (
        "CREATE MATERIALIZED VIEW IF NOT EXISTS derived_mv ON CLUSTER 'prod' TO derived AS\n"
        "SELECT CorrelationId, 'FROM spans' AS note, (SELECT 1 FROM control) AS one FROM spans_local WHERE x = 'spans'"
    )


def test_alters_go_to_the_data_and_column_changes_to_both_tables() -> None:
    assert R.render("ALTER TABLE derived ADD INDEX IF NOT EXISTS i V TYPE minmax GRANULARITY 1") == [
        "ALTER TABLE derived_local ON CLUSTER 'prod' ADD INDEX IF NOT EXISTS i V TYPE minmax GRANULARITY 1"
    ]
    assert R.render("ALTER TABLE derived ADD COLUMN IF NOT EXISTS A String, MODIFY COLUMN B UInt8") == [
        "ALTER TABLE derived_local ON CLUSTER 'prod' ADD COLUMN IF NOT EXISTS A String, MODIFY COLUMN B UInt8",
        "ALTER TABLE derived ON CLUSTER 'prod' ADD COLUMN IF NOT EXISTS A String, MODIFY COLUMN B UInt8",
    ]
    assert R.render("ALTER TABLE control MODIFY TTL At + INTERVAL 1 DAY") == [
        "ALTER TABLE control ON CLUSTER 'prod' MODIFY TTL At + INTERVAL 1 DAY"
    ]
    with pytest.raises(RenderError, match="do not mix"):
        R.render("ALTER TABLE derived ADD COLUMN A String, ADD INDEX i A TYPE minmax GRANULARITY 1")


def test_drops_run_on_every_node_and_backfills_once_through_the_distributed_table() -> None:
    assert R.render("DROP VIEW IF EXISTS derived_mv") == ["DROP VIEW IF EXISTS derived_mv ON CLUSTER 'prod'"]
    backfill = "INSERT INTO derived (CorrelationId) SELECT CorrelationId FROM spans"
    assert R.render(backfill) == [backfill]


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("CREATE TABLE unknown (a String) ENGINE = MergeTree ORDER BY a", "no cluster placement"),
        ("CREATE TABLE control (a String) ENGINE = Log", "no replicated form"),
        ("CREATE MATERIALIZED VIEW v AS SELECT 1 FROM spans", "must write TO a table"),
        ("CREATE MATERIALIZED VIEW v TO derived AS SELECT a FROM spans UNION ALL SELECT a FROM spans", "exactly one"),
        ("TRUNCATE TABLE derived", "no cluster rendering"),
        ("CREATE TABLE control (a String", "unbalanced"),
    ],
)
def test_what_it_cannot_place_is_an_error_never_passed_through(sql: str, problem: str) -> None:
    with pytest.raises(RenderError, match=problem):
        R.render(sql)


def test_names_must_be_plain_identifiers() -> None:
    with pytest.raises(RenderError):
        ClusterRenderer("prod'; DROP", "ledgerline", LAYOUT)
