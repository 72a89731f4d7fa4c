"""Migrations 170-171: idempotent, and old audit rows stay readable after the enum grows."""

from __future__ import annotations

from collector.migrations import migrate
from collector.store import Store
from lineage import queries, schema
from lineage.replay.schema import MIGRATIONS


def test_action_enum_extension_keeps_old_rows(store: Store) -> None:
    assert migrate(store, schema.MIGRATIONS[:1]) == [100]
    row = {"id": "e1", "actor": "carol", "note": "", "entity_type": "ledger", "entity_id": "L1", "step": "s"}
    store.command(queries.INSERT_EXCEPTION_ACTION, {**row, "action": "ack", "at_ms": 1_000})
    assert migrate(store, schema.MIGRATIONS) == [101, 170, 171]
    for statement in MIGRATIONS[1].statements + MIGRATIONS[0].statements:  # re-run: no harm
        store.command(statement)
    store.command(queries.INSERT_EXCEPTION_ACTION, {**row, "action": "replay_requested", "at_ms": 2_000})
    history = store.query_dicts(queries.EXCEPTION_HISTORY, {"id": "e1"})
    assert [(h["action"], h["actor"]) for h in history] == [("ack", "carol"), ("replay_requested", "carol")]
    # The replay entry does not change the exception's state: the latest ack/resolve does.
    assert store.query_dicts(queries.EXCEPTION_ACTIONS, {"ids": ["e1"]})[0]["action"] == "ack"
