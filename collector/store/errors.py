"""Errors of the store API, and the base of every ledgerline error.

The store package is the lowest layer: every component's errors derive from
:class:`LedgerlineError` here (collector/errors.py adds the ingest errors). Lower-layer
errors (clickhouse-connect, chdb) are mapped at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations


class LedgerlineError(Exception):
    """Base class of every error ledgerline raises on purpose."""


class ConfigError(LedgerlineError):
    """Settings that cannot work, such as an unsafe bind address or an unreadable file."""


class StoreError(LedgerlineError):
    """The store refused or failed a statement."""


class StoreUnavailable(StoreError):
    """The store cannot be reached, or a table it needs is offline."""


class QueryTimeout(StoreError):
    """A bounded query ran past its time limit."""
