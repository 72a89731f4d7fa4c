"""Errors of the alerts: an unusable rules or receivers file, a notification not delivered."""

from __future__ import annotations

from collector.store.errors import ConfigError, LedgerlineError


class RuleError(ConfigError):
    """A rule or receivers file that cannot be used; the message names the line, rule and field."""


class DeliveryError(LedgerlineError):
    """A notification that could not be delivered after its retries."""
