"""Migrations 170-171: idempotent, and old audit rows stay readable after the enum grows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collector.store import Store, StoreSettings, migrate, open_store
from ledgerline.schema import MIGRATIONS as ALL
from ledgerline.schema import migrate_all
from lineage.replay.schema import MIGRATIONS
from lineage.sql import exceptions


@pytest.fixture
def bare(store_settings: StoreSettings) -> Iterator[Store]:
    """A store with no migrations applied yet."""
    store = open_store(store_settings)
    yield store
    store.command("DROP DATABASE IF EXISTS {db:Identifier}", {"db": store.database})
    store.close()


def test_action_enum_extension_keeps_old_rows(bare: Store) -> None:
    store = bare
    before = [m for m in ALL if m.version <= 100]
    assert migrate(store, before)[-1] == 100
    row = {"id": "e1", "actor": "carol", "note": "", "entity_type": "ledger", "entity_id": "L1", "step": "s"}
    store.command(exceptions.INSERT_EXCEPTION_ACTION, {**row, "action": "ack", "at_ms": 1_000})
    assert {170, 171} <= set(migrate_all(store))
    for statement in MIGRATIONS[1].statements + MIGRATIONS[0].statements:  # re-run: no harm
        store.command(statement)
    store.command(exceptions.INSERT_EXCEPTION_ACTION, {**row, "action": "replay_requested", "at_ms": 2_000})
    history = store.query_dicts(exceptions.EXCEPTION_HISTORY, {"id": "e1"})
    assert [(h["action"], h["actor"]) for h in history] == [("ack", "carol"), ("replay_requested", "carol")]
    # The replay entry does not change the exception's state: the latest ack/resolve does.
    assert store.query_dicts(exceptions.EXCEPTION_ACTIONS, {"ids": ["e1"]})[0]["action"] == "ack"
