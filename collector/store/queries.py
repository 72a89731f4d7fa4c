"""SQL of the store package itself: the migration ledger."""

from __future__ import annotations

CREATE_SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    applied_at DateTime64(3) DEFAULT now64(3)
) ENGINE = ReplacingMergeTree ORDER BY version
"""

SELECT_APPLIED_VERSIONS = "SELECT DISTINCT version FROM schema_migrations ORDER BY version"
