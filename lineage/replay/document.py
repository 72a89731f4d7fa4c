"""Replays as the API and the transaction document show them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from collector.store import Store
from lineage.core.scope import EVERYTHING, Scope
from lineage.core.shape import iso
from lineage.replay.repo import ReplayRepo, Row


def public(row: Row, history: list[Row] | None = None) -> dict[str, Any]:
    """A replay as the API shows it."""
    out = {k: row[k] for k in ("id", "state", "exception_id", "correlation_id", "flow", "entity_type", "entity_id")}
    out |= {k: row[k] for k in ("step", "system", "category", "amount", "requested_by", "reason", "attempts")}
    out |= {
        "currency": row["currency"] or None,
        "approved_by": row["approved_by"] or None,
        "last_error": row["last_error"] or None,
        "trace_id": row["trace_id"],
        "confirmed_by_span": row["confirmed_span"] or None,
        "created_at": iso(int(row["created_ms"])),
        "updated_at": iso(int(row["updated_ms"])),
        "history": history,
    }
    return out


def document_replays(store: Store, exception_ids: list[str], scope: Scope = EVERYTHING) -> list[dict[str, Any]]:
    """The replays of a transaction's exceptions, newest first, for its lineage document."""
    return [public(r) for r in ReplayRepo(store).of_exceptions(exception_ids, scope, limit=100)]


def replays_of(store: Store) -> Callable[[list[str]], list[dict[str, Any]]]:
    """The replays step of a transaction document, injected into the lineage service."""
    return lambda exception_ids: document_replays(store, exception_ids)
