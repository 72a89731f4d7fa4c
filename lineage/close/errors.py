"""Errors of the close gate: a question it cannot answer, a sign-off it refuses."""

from __future__ import annotations

from collector.store.errors import ConfigError, LedgerlineError


class CloseError(LedgerlineError, ValueError):
    """A close question that cannot be answered as asked (422): an unknown entity, a bad period."""


class SignOffRefused(LedgerlineError):
    """A sign-off the gate or the four-eyes rule does not allow; ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class CloseConfigError(ConfigError):
    """The close calendar is not valid."""
