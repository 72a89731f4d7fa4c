"""The store API's errors (defined with the rest of the hierarchy in collector/errors.py,
which imports nothing, so importing an error never loads the ClickHouse driver)."""

from collector.errors import ConfigError, LedgerlineError, QueryTimeout, StoreError, StoreLocked, StoreUnavailable

__all__ = ["ConfigError", "LedgerlineError", "QueryTimeout", "StoreError", "StoreLocked", "StoreUnavailable"]
