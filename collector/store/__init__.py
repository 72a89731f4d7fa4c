"""The store API: one clickhouse-connect client for the embedded engine and a ClickHouse server,
its errors, its settings and the migration runner. Every component reaches ClickHouse through it.

The client and the migration runner are loaded on first use (PEP 562), so importing the
errors (the base of the one error tree) never loads the ClickHouse driver.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from collector.store.errors import (
    ConfigError,
    LedgerlineError,
    QueryTimeout,
    StoreError,
    StoreLocked,
    StoreUnavailable,
)

if TYPE_CHECKING:
    from collector.store.client import Bounded, Store, embedded_path, open_existing, open_store
    from collector.store.migrations import Migration, applied_versions, migrate
    from collector.store.settings import StoreSettings

_LAZY = {
    "Bounded": "collector.store.client",
    "Store": "collector.store.client",
    "open_store": "collector.store.client",
    "open_existing": "collector.store.client",
    "embedded_path": "collector.store.client",
    "Migration": "collector.store.migrations",
    "applied_versions": "collector.store.migrations",
    "migrate": "collector.store.migrations",
    "StoreSettings": "collector.store.settings",
}

__all__ = [
    "Bounded",
    "ConfigError",
    "LedgerlineError",
    "Migration",
    "QueryTimeout",
    "Store",
    "StoreError",
    "StoreLocked",
    "StoreSettings",
    "StoreUnavailable",
    "applied_versions",
    "embedded_path",
    "migrate",
    "open_existing",
    "open_store",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
