"""Errors of the alerts: an unusable rules or receivers file, a notification not delivered."""

from __future__ import annotations

from collector.store.errors import ConfigError, LedgerlineError


class RuleError(ConfigError):
    """A rule or receivers file that cannot be used; the message names the line, rule and field."""


class DeliveryError(LedgerlineError):
    """A notification that could not be delivered after its retries."""


class TicketRetry(DeliveryError):
    """A ticket action the other side could not take now (429, 5xx, no connection): tried again later."""

    def __init__(self, reason: str, wait_s: float | None = None) -> None:
        super().__init__(reason)
        self.wait_s = wait_s  # the other side's Retry-After, when it gave one


class TicketRejected(DeliveryError):
    """A ticket action the other side refused as wrong (4xx other than 429): not tried again."""
