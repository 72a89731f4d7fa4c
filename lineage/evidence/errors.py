"""Errors of tamper evidence: sealing or exporting failed, or evidence does not verify."""

from __future__ import annotations

from collector.store.errors import LedgerlineError


class EvidenceError(LedgerlineError):
    """Sealing, exporting or reading evidence failed (not a verification verdict)."""


class VerificationFailed(EvidenceError):
    """Evidence does not verify; ``check`` names the first failed check."""

    def __init__(self, check: str, detail: str = "") -> None:
        super().__init__(f"{check}: {detail}" if detail else check)
        self.check = check
        self.detail = detail


class WrongSealKey(EvidenceError):
    """This process's seal key is not the store's current seal key: it must not seal."""


class NotSealed(EvidenceError):
    """Some hops of the transaction are not sealed yet; retry after the next seal."""


class SpansScopes(EvidenceError):
    """The caller's scope withholds some hops: a pack proves whole transactions only."""


class RecordError(EvidenceError, ValueError):
    """A hop record that does not have the canonical fields and types."""
