"""Errors of replay: a request refused by the rules or the state machine, or nothing found."""

from __future__ import annotations

from collector.store.errors import LedgerlineError


class ReplayError(LedgerlineError):
    """A replay request that cannot be carried out."""


class NotFound(ReplayError):
    """No such exception or replay within the caller's scope."""


class Refused(ReplayError):
    """A request the current state does not allow; ``status`` is the HTTP answer."""

    def __init__(self, reason: str, status: int = 409) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
