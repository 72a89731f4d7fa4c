"""The ticket outbox in the store: every outbound ticket action (open, comment, resolve) is a
row before anything is sent, and each try is recorded before it goes out, so a restart neither
loses an action nor (with the mark a ticket carries, alerts/tickets/client.py ``find``) opens a
ticket twice. The latest version of a row (ReplacingMergeTree) is its state."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from alerts.tickets import queries
from alerts.tickets.client import Ticket
from collector.store import Store

Kind = Literal["create", "comment", "resolve"]


def create_id(receiver: str, exception_id: str) -> str:
    """One open per exception and receiver."""
    return f"{receiver}/{exception_id}/create"


def action_id(receiver: str, exception_id: str, action: str, at_ms: int) -> str:
    """One mirror of a trail entry (as ``ACTIONS_TO_MIRROR`` computes it in SQL)."""
    return f"{receiver}/{exception_id}/{action}/{at_ms}"


@dataclass(frozen=True)
class Entry:
    """One outbound ticket action and how its tries went."""

    id: str
    receiver: str
    exception_id: str
    kind: Kind
    payload: dict[str, Any]
    state: Literal["pending", "done", "failed"] = "pending"
    attempts: int = 0
    next_at: int = 0
    last_error: str = ""
    created_at: int = 0

    def tried(self, next_at: int, error: str = "") -> Entry:
        """The same action after one more try, due again at ``next_at``."""
        return replace(self, attempts=self.attempts + 1, next_at=next_at, last_error=error)


class Outbox:
    """The outbox and the exception-to-ticket links of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, entries: list[Entry]) -> int:
        """Enqueue the entries not enqueued before (an id seen once is never reset); how many were new."""
        if not entries:
            return 0
        known = {r[0] for r in self.store.query(queries.SELECT_KNOWN_IDS, {"ids": [e.id for e in entries]})}
        new = [e for e in entries if e.id not in known]
        self._write(new)
        return len(new)

    def save(self, entry: Entry) -> None:
        """Record the entry as it now stands (a newer version of its row)."""
        self._write([entry])

    def _write(self, entries: list[Entry]) -> None:
        if not entries:
            return
        version = time.time_ns()
        rows = [
            [
                e.id,
                e.receiver,
                e.exception_id,
                e.kind,
                json.dumps(e.payload, sort_keys=True),
                e.state,
                e.attempts,
                e.next_at,
                e.last_error[:1000],
                e.created_at,
                version,
            ]
            for e in entries
        ]
        self.store.insert("ticket_outbox", rows, queries.OUTBOX_COLUMNS)

    def due(self, now_ms: int, limit: int = 100) -> list[Entry]:
        """Pending actions whose next try is due, oldest first."""
        return [self._entry(r) for r in self.store.query(queries.SELECT_DUE, {"now_ms": now_ms, "limit": limit})]

    def entries(self, limit: int = 10_000) -> list[Entry]:
        """Every action, oldest first (tests, support)."""
        return [self._entry(r) for r in self.store.query(queries.SELECT_OUTBOX, {"limit": limit})]

    @staticmethod
    def _entry(row: tuple[Any, ...]) -> Entry:
        eid, receiver, exc, kind, payload, state, attempts, next_at, error, created = row
        return Entry(eid, receiver, exc, kind, json.loads(payload), state, int(attempts), next_at, error, created)

    # -- the exception-to-ticket links ------------------------------------------------------
    def ticket(self, exception_id: str, receiver: str) -> Ticket | None:
        """The ticket an exception has on ``receiver``."""
        rows = self.store.query(queries.SELECT_TICKET, {"id": exception_id, "receiver": receiver})
        return Ticket(rows[0][1], rows[0][2], rows[0][3]) if rows else None

    def find(self, receiver: str, key: str) -> tuple[str, Ticket] | None:
        """(exception id, ticket) of a ticket named by its key or id on ``receiver``."""
        rows = self.store.query(queries.FIND_TICKET, {"receiver": receiver, "key": key})
        return (rows[0][0], Ticket(rows[0][1], rows[0][2], rows[0][3])) if rows else None

    def link(self, receiver: str, exc: dict[str, Any], ticket: Ticket, at_ms: int, since_ms: int) -> None:
        """Record that ``exc`` has ``ticket``: in the exception's trail at ``at_ms``, then in the links
        (each once). Actions from ``since_ms`` (when the open was asked) on are mirrored on it."""
        if self.ticket(exc["id"], receiver) is not None:
            return
        trail = {"id": exc["id"], "actor": receiver}
        if not self.store.query(queries.TRAIL_HAS_TICKET, trail):
            entity = {"entity_type": exc["entity_type"], "entity_id": exc["entity_id"], "step": exc["step"]}
            note = f"{ticket.key} {ticket.url}"
            self.store.command(queries.INSERT_TRAIL, trail | entity | {"note": note, "at_ms": at_ms})
        at = datetime.fromtimestamp(since_ms / 1000, tz=UTC)
        row = [exc["id"], receiver, ticket.key, ticket.id, ticket.url, at]
        self.store.insert("exception_tickets", [row], queries.TICKET_COLUMNS)
