"""Which data an access-log entry touched, as (legal entity, region) pairs.

The access log is scoped like every other read: a scoped auditor sees an entry only when a
pair it touched lies within their scope (lineage/auth/queries.py). The pairs are resolved
when the entry is written, in the access log's writer thread (one query per target kind and
batch), from the stored data itself and not from the actor's scope, so a read refused with
404 because its target lies in another legal entity is withheld from this entity's auditors
and shown to that entity's. A target found nowhere (or an action without a target) touched
what its actor may see: the actor's own scope. ``*`` stands for a dimension without limit,
which no scoped caller matches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from collector.store import Store
from lineage.auth import queries
from lineage.core.scope import Scope
from lineage.core.timeparse import to_ms, utcnow
from lineage.sql.queries import EXC_ID


class Entry(Protocol):
    """What resolution reads of an access-log entry (lineage/auth/audit.py's AccessEntry)."""

    @property
    def action(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def scopes(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def actor_scope(self) -> Scope: ...


Pairs = tuple[tuple[str, str], ...]
# An exception read names an exception whose failure may be up to the API's longest window old.
EXCEPTION_HORIZON_MS = 92 * 86400 * 1000

# The target kind of each logged action that names stored data.
KIND_OF_ACTION = {
    "transaction.read": "transaction",
    "evidence.export": "transaction",
    "entity.read": "entity",
    "search": "search",
    "exception.read": "exception",
    "exception.ack": "exception",
    "exception.resolve": "exception",
    "replay.request": "exception",
    "replay.read": "replay",
    "replay.approve": "replay",
    "replay.cancel": "replay",
    "token.create": "token",
    "token.revoke": "token",
}


def _rows_to_pairs(rows: Sequence[Sequence[object]]) -> dict[str, Pairs]:
    return {str(r[0]): tuple(sorted((str(p[0]), str(p[1])) for p in r[1])) for r in rows}  # type: ignore[attr-defined]


class TargetResolver:
    """Resolves the pairs of a batch of entries (I/O); the rule for unknown targets is pure."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lookups: dict[str, Callable[[list[str]], dict[str, Pairs]]] = {
            "transaction": self._transactions,
            "entity": self._entities,
            "exception": self._exceptions,
            "replay": self._replays,
            "token": self._tokens,
            "search": self._searches,
        }

    def __call__(self, entries: Sequence[Entry]) -> list[Pairs]:
        """The pairs of each entry, in order; an entry that already names its pairs keeps them."""
        wanted: dict[str, set[str]] = {}
        for e in entries:
            kind = KIND_OF_ACTION.get(e.action)
            if kind and e.target and not e.scopes:
                wanted.setdefault(kind, set()).add(e.target)
        found = {kind: self._lookups[kind](sorted(targets)) for kind, targets in wanted.items()}
        out: list[Pairs] = []
        for e in entries:
            kind = KIND_OF_ACTION.get(e.action, "")
            pairs = e.scopes or found.get(kind, {}).get(e.target) or tuple(e.actor_scope.pairs())
            out.append(pairs)
        return out

    def _transactions(self, ids: list[str]) -> dict[str, Pairs]:
        return _rows_to_pairs(self.store.query(queries.TRANSACTION_SCOPES, {"ids": ids}))

    def _entities(self, targets: list[str]) -> dict[str, Pairs]:
        keys = [(t.partition(":")[0], t.partition(":")[2]) for t in targets if ":" in t]
        return _rows_to_pairs(self.store.query(queries.ENTITY_SCOPES, {"keys": keys})) if keys else {}

    def _searches(self, queries_: list[str]) -> dict[str, Pairs]:
        """A search touched what it could find: a transaction, a typed key, or a bare key of any type."""
        found: dict[str, set[tuple[str, str]]] = {}
        typed = [q for q in queries_ if ":" in q]
        bare = [q for q in queries_ if ":" not in q]
        for part in (
            self._transactions(queries_),
            self._entities(typed) if typed else {},
            _rows_to_pairs(self.store.query(queries.BARE_KEY_SCOPES, {"ids": bare})) if bare else {},
        ):
            for target, pairs in part.items():
                found.setdefault(target, set()).update(pairs)
        return {t: tuple(sorted(p)) for t, p in found.items()}

    def _exceptions(self, ids: list[str]) -> dict[str, Pairs]:
        since_ms = to_ms(utcnow()) - EXCEPTION_HORIZON_MS
        rows = self.store.query(queries.exception_scopes(EXC_ID), {"ids": ids, "since_ms": since_ms})
        return _rows_to_pairs(rows)

    def _replays(self, ids: list[str]) -> dict[str, Pairs]:
        return _rows_to_pairs(self.store.query(queries.REPLAY_SCOPES, {"ids": ids}))

    def _tokens(self, ids: list[str]) -> dict[str, Pairs]:
        rows = self.store.query(queries.TOKEN_SCOPES, {"ids": ids})
        return {str(r[0]): tuple(Scope(tuple(r[1]), tuple(r[2])).pairs()) for r in rows}
