"""The ClickHouse reader files: the SQL parses in ClickHouse's own parser, the row-policy
conditions keep exactly one legal entity's rows of every table the panels read, and the users
file's filters, enforced by the engine itself, give the panels the numbers of the legal-entity
filter. The embedded engine cannot create users or SQL row policies (no writable access
storage): that is checked too, so the day it can, this test says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collector.store import Store
from collector.store.errors import StoreError
from ledgerline.grafana import access, dashboards
from lineage.core.flows import load_flows
from tests.dashboard.stack import FlowsStack, running_flows_stack
from tests.ledgerline.grafana import policy_probe
from tests.ledgerline.grafana.macros import expand
from tests.ledgerline.grafana.panels import requests

pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[3]
DE = "LL-DE-GmbH"


@pytest.fixture(scope="module")
def world(chdb_path: Path) -> Iterator[FlowsStack]:
    with running_flows_stack(chdb_path, "grafana_access", count=80, seed=3) as stack:
        yield stack


@pytest.mark.parametrize("cluster", [None, "ledgerline"])
def test_every_statement_parses(store: Store, cluster: str | None) -> None:
    statements = access.sql("ledgerline", {"grafana_de": (DE,), "grafana_emea": (DE, "LL-FR-SAS")}, cluster)
    assert any(s.startswith("CREATE ROW POLICY") for s in statements)
    for statement in statements:
        formatted = store.query("SELECT formatQuery({q:String})", {"q": statement})[0][0]
        assert formatted.split()[0] in ("CREATE", "GRANT"), statement
    with pytest.raises(StoreError, match="Syntax error"):  # the parser does refuse
        store.query("SELECT formatQuery({q:String})", {"q": "CREATE ROW POLICY p ON t USING"})


def test_the_embedded_engine_cannot_create_users_or_row_policies(store: Store) -> None:
    role = access.sql(store.database, access.EXAMPLE_SCOPED)[1]
    for statement in (role, f"CREATE ROW POLICY p ON {store.database}.hops USING 1 TO ALL"):
        with pytest.raises(StoreError, match=r"ACCESS_DENIED|ACCESS_STORAGE|Not enough privileges|no writeable"):
            store.command(statement)


def test_the_conditions_keep_one_legal_entitys_rows(world: FlowsStack) -> None:
    store = world.store
    conditions = access.conditions(store.database, (DE,))
    assert set(conditions) == set(access.TABLES)
    own = "SELECT count() FROM {t} WHERE LegalEntity = 'LL-DE-GmbH'"
    expected = {
        "hops": own.format(t="hops"),
        "hop_times": own.format(t="hop_times"),
        "hop_keys": own.format(t="hop_keys"),
        "hop_failures": "SELECT count() FROM hop_failures WHERE CorrelationId IN "
        "(SELECT CorrelationId FROM hops WHERE LegalEntity = 'LL-DE-GmbH')",
        "exception_actions": "SELECT 0",
    }
    for table, condition in conditions.items():
        kept, total = store.query(f"SELECT countIf({condition}), count() FROM {table}")[0]
        assert kept == store.query(expected[table])[0][0] or table == "exception_actions", table
        if table != "exception_actions":  # no actions in this world
            assert 0 < kept < total, table


def test_the_users_file_filters_are_enforced_by_the_engine(tmp_path: Path) -> None:
    data = tmp_path / "store"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    probe = [sys.executable, "-m", "tests.ledgerline.grafana.policy_probe"]
    subprocess.run([*probe, "load", str(data)], check=True, env=env, cwd=ROOT, timeout=180)
    xml = tmp_path / "readers.xml"
    xml.write_text(access.users_xml(policy_probe.DATABASE, {"grafana_de": (DE,)}))
    board = dashboards.business_flows(load_flows())
    backlog = next(p for p in board.panels if p.title == "Exception backlog")
    end = datetime.now(UTC) + timedelta(minutes=5)
    window = (end - timedelta(hours=3), end)

    def expanded(**picked: object) -> str:
        # the variables' options are not needed: every filter is All or one value
        return expand(backlog.sql, requests(_NoStore(), board, *window, **picked))

    queries = [
        "SELECT DISTINCT toString(LegalEntity) FROM hops ORDER BY 1",
        "SELECT DISTINCT toString(LegalEntity) FROM hop_times ORDER BY 1",
        "SELECT DISTINCT toString(LegalEntity) FROM hop_keys ORDER BY 1",
        "SELECT count() FROM hop_failures",
        "SELECT Note FROM exception_actions ORDER BY Note",
        expanded(),
        expanded(legal_entity=[DE]),
    ]
    (tmp_path / "queries.json").write_text(json.dumps(queries))

    def run(users: str) -> list[list[list[str]]]:
        argv = [*probe, "query", str(data), users, "grafana_de", str(tmp_path / "queries.json")]
        done = subprocess.run(argv, check=True, env=env, cwd=ROOT, timeout=180, capture_output=True, text=True)
        return list(json.loads(done.stdout.strip().splitlines()[-1]))

    everyone = run("-")
    assert everyone[:5] == [[[DE], ["LL-FR-SAS"]]] * 3 + [[["2"]], [[DE], ["LL-FR-SAS"]]]
    assert everyone[5][0][:4] == ["erp", "tax_error", "0", "2"]  # both legal entities' exceptions
    hops, times, keys, failures, notes, scoped, _ = run(str(xml))
    assert hops == times == keys == notes == [[DE]]
    assert failures == [["1"]]  # one of the two legal entities' failed postings
    # the policy gives the unfiltered panel exactly what the legal-entity filter gives everyone
    assert scoped == everyone[6] and scoped[0][:4] == ["erp", "tax_error", "0", "1"]


class _NoStore:
    """Variables stay at All here: nothing to look up."""

    def query(self, sql: str) -> list[tuple[str]]:
        return []
