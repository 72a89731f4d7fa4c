"""Store access of the replay package: versioned replay rows, their history, hop facts.

A replay is written as a new version (event first, then the row), each insert committed
before the call returns: what the API acknowledges or the worker is about to send is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from collector.store import Bounded, Store
from lineage.core.scope import EVERYTHING, Scope
from lineage.core.shape import iso
from lineage.replay import queries
from lineage.sql import exceptions as exception_sql

Row = dict[str, Any]
Key = tuple[str, str, str]  # entity type, entity id, step


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass
class ReplayRepo:
    """Reads and writes replays on one store."""

    store: Store

    def get(self, replay_id: str, scope: Scope = EVERYTHING) -> Row | None:
        rows = self.store.query_dicts(queries.BY_ID, {"id": replay_id, **scope.params()})
        return rows[0] if rows else None

    def of_exceptions(self, ids: list[str], scope: Scope = EVERYTHING, limit: int = 1000) -> list[Row]:
        if not ids:
            return []
        return self.store.query_dicts(queries.BY_EXCEPTIONS, {"ids": ids, "limit": limit, **scope.params()})

    def listing(self, state: str, system: str, scope: Scope, limit: int) -> Bounded:
        return self.store.query_bounded(queries.LIST, {"state": state, "system": system, **scope.params()}, limit)

    def due(self, now_ms: int, limit: int = 200) -> list[Row]:
        return self.store.query_dicts(queries.DUE, {"now_ms": now_ms, "limit": limit})

    def backlog(self, now_ms: int) -> tuple[int, int]:
        """How many replays are due at ``now_ms``, and the attempt time of the oldest (0: none)."""
        row = self.store.query_dicts(queries.BACKLOG, {"now_ms": now_ms})[0]
        return int(row["due"]), int(row["oldest_ms"]) if row["due"] else 0

    def awaiting(self, failed_since_ms: int, limit: int = 500) -> list[Row]:
        """Replays a later ``ok`` hop may confirm (failed ones only if they failed since ``failed_since_ms``)."""
        return self.store.query_dicts(queries.AWAITING, {"failed_since_ms": failed_since_ms, "limit": limit})

    def history(self, ids: list[str]) -> dict[str, list[Row]]:
        out: dict[str, list[Row]] = {i: [] for i in ids}
        if not ids:
            return out
        for h in self.store.query_dicts(queries.HISTORY, {"ids": ids}):
            out[h["replay_id"]].append(
                {"state": h["state"], "actor": h["actor"], "note": h["note"], "at": iso(int(h["at_ms"]))}
            )
        return out

    def write(self, row: Row, actor: str, note: str, now_ms: int) -> Row:
        """Store the next version of ``row`` (version + 1, updated now) and its history entry."""
        row = {**row, "version": int(row.get("version", 0)) + 1, "updated_ms": now_ms}
        event = {"id": row["id"], "at_ms": now_ms, "seq": row["version"], "state": row["state"]}
        self.store.command(queries.INSERT_EVENT, {**event, "actor": actor, "note": note})
        values = [_dt(int(row[f])) if f.endswith("_ms") else row[f] for f in queries.FIELDS]
        self.store.insert("replays", [values], column_names=list(queries.FIELDS.values()))
        return row

    def entity_facts(self, keys: list[Key], scope: Scope = EVERYTHING) -> dict[Key, Row]:
        """Hop facts per (entity type, entity id, step) within ``scope``."""
        if not keys:
            return {}
        params = {"ents": sorted({(k[0], k[1]) for k in keys}), "keys": sorted(set(keys)), **scope.params()}
        rows = self.store.query_dicts(queries.ENTITY_FACTS, params)
        return {(r["entity_type"], r["entity_id"], r["step"]): r for r in rows}

    def exception_action(self, row: Row, action: str, actor: str, note: str, now_ms: int) -> None:
        """Append a replay entry (or a resolution) to the exception's audit trail."""
        self.store.command(
            exception_sql.INSERT_EXCEPTION_ACTION,
            {
                "id": row["exception_id"],
                "action": action,
                "actor": actor,
                "note": note,
                "at_ms": now_ms,
                "entity_type": row["entity_type"],
                "entity_id": row["entity_id"],
                "step": row["step"],
            },
        )
