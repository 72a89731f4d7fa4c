"""The store API: one clickhouse-connect client for the embedded engine and a ClickHouse server,
its errors, its settings and the migration runner. Every component reaches ClickHouse through it."""

from collector.store.client import Bounded, Store, open_store
from collector.store.errors import (
    ConfigError,
    LedgerlineError,
    QueryTimeout,
    StoreError,
    StoreLocked,
    StoreUnavailable,
)
from collector.store.migrations import Migration, applied_versions, migrate
from collector.store.settings import StoreSettings

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
    "migrate",
    "open_store",
]
