"""Errors of "why?"."""

from __future__ import annotations

from collector.store.errors import LedgerlineError


class ExplainError(LedgerlineError, ValueError):
    """A question that cannot be answered as asked (422): unknown subject, baseline or stage."""
