"""The lineage service's exceptions: read in a window or by ID (with their amounts, tickets
and audit history) and acknowledged or resolved. :class:`ExceptionReads` is the base of
``Lineage`` (lineage/core/service.py), which holds the store and the flow definitions.
"""

from __future__ import annotations

from typing import Any

from collector.store import Store
from lineage.core import domain, money, shape
from lineage.core.checks import exceptions as check_exceptions
from lineage.core.flows import FlowConfig
from lineage.core.scope import Scope
from lineage.core.timeparse import to_ms, utcnow
from lineage.core.window import Window
from lineage.sql import exceptions as exception_sql


class ExceptionReads:
    """The store's helpers and the exceptions' reads and actions (``Lineage`` sets
    ``store`` and ``config``)."""

    store: Store
    config: FlowConfig

    def _dicts(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        return self.store.query_dicts(sql, params)

    def _scoped(self, scope: Scope, sql: str, **params: Any) -> list[dict[str, Any]]:
        """A query over hops, limited to ``scope``."""
        return self.store.query_dicts(sql, params | scope.params())

    def _exceptions_of(self, hops: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Exceptions of one transaction from its hop rows and their latest actions."""
        ids = [h["exc_id"] for h in hops if h["fails"]]
        actions = {
            r["id"]: (r["action"], int(r["at_ms"])) for r in self._dicts(exception_sql.EXCEPTION_ACTIONS, ids=ids)
        }
        rows = check_exceptions(hops, actions, self.config.recoverable)
        return [shape.exception(r) for r in sorted(rows, key=lambda r: (r["first_ms"], r["id"]))]

    def _window_params(self, scope: Scope, window: Window, state: str, category: str, system: str) -> dict[str, Any]:
        """The bound parameters of the exceptions in a window, filtered, in ``scope``."""
        return {
            "since_ms": window.since_ms,
            "until_ms": window.until_ms,
            "state": state,
            "category": category,
            "system": system,
            **domain.exception_params(self.config, to_ms(utcnow())),
            **scope.params(),
        }

    def exceptions(self, scope: Scope, window: Window, state: str, category: str, system: str) -> dict[str, Any]:
        """Exceptions first or last seen in the window, filtered, from attempts in scope."""
        params = self._window_params(scope, window, state, category, system)
        page = self.store.query_bounded(exception_sql.EXCEPTIONS_IN_WINDOW, params, window.limit)
        shaped = self.with_tickets(self.with_amounts(scope, [shape.exception(r) for r in page.rows]))
        return {"exceptions": shaped, "truncated": page.truncated}

    def exceptions_by_legal_entity(
        self, scope: Scope, window: Window, state: str, category: str, system: str
    ) -> dict[str, dict[str, Any]]:
        """:meth:`exceptions` of each legal entity in ``scope`` apart (as a caller scoped to it
        alone sees them), one pass for all; an entity with none is absent."""
        params = self._window_params(scope, window, state, category, system) | {"limit": window.limit + 1}
        found: dict[str, list[dict[str, Any]]] = {}
        for r in self._dicts(exception_sql.EXCEPTIONS_IN_WINDOW_BY_LEGAL_ENTITY, **params):
            found.setdefault(r["legal_entity"], []).append(r)
        shaped = {le: [shape.exception(r) for r in rows[: window.limit]] for le, rows in found.items()}
        money.of_exceptions_by_legal_entity(self.store, scope, shaped)  # the amounts of all in one query
        self.with_tickets([e for listed in shaped.values() for e in listed])  # their tickets in one too
        return {le: {"exceptions": shaped[le], "truncated": len(rows) > window.limit} for le, rows in found.items()}

    def with_tickets(self, exceptions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Exceptions with the tickets opened for them (set in place). One query."""
        rows = self._dicts(exception_sql.EXCEPTION_TICKETS, ids=[e["id"] for e in exceptions]) if exceptions else []
        found: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            found.setdefault(r["id"], []).append({"receiver": r["receiver"], "key": r["key"], "url": r["url"]})
        for e in exceptions:
            e["tickets"] = found.get(e["id"], [])
        return exceptions

    def transaction_amounts(self, scope: Scope, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Business key, amount and currency of each transaction (lineage/core/money.py)."""
        return money.of_transactions(self.store, scope, ids)

    def with_amounts(self, scope: Scope, exceptions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Exceptions with their entity's amount and currency (lineage/core/money.py)."""
        return money.of_exceptions(self.store, scope, exceptions)

    def exception(self, scope: Scope, exc_id: str, since_ms: int) -> dict[str, Any] | None:
        """One exception with its audit history, or None (also when no failure is in scope)."""
        params = domain.exception_params(self.config, to_ms(utcnow()))
        rows = self._scoped(scope, exception_sql.EXCEPTION_BY_ID, id=exc_id, since_ms=since_ms, **params)
        if not rows:
            return None
        out = self.with_tickets(self.with_amounts(scope, [shape.exception(rows[0])]))[0]
        history = self._dicts(exception_sql.EXCEPTION_HISTORY, id=exc_id)
        out["history"] = [
            {"action": h["action"], "actor": h["actor"], "note": h["note"], "at": shape.iso(int(h["at_ms"]))}
            for h in history
        ]
        return out

    def act(
        self, scope: Scope, exc_id: str, action: str, actor: str, note: str, since_ms: int
    ) -> dict[str, Any] | None:
        """Append an ack/resolve record and return the exception as it now stands; None (and
        nothing recorded) when the exception is unknown or outside ``scope``."""
        current = self.exception(scope, exc_id, since_ms)
        if current is None:
            return None
        self.store.command(
            exception_sql.INSERT_EXCEPTION_ACTION,
            {
                "id": exc_id,
                "action": action,
                "actor": actor,
                "note": note,
                "at_ms": to_ms(utcnow()),
                "entity_type": current["entity_type"],
                "entity_id": current["entity_id"],
                "step": current["step"],
            },
        )
        return self.exception(scope, exc_id, since_ms)
