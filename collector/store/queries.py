"""SQL of the store package itself: the migration ledger, leases and query cancellation."""

from __future__ import annotations

CREATE_SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    applied_at DateTime64(3) DEFAULT now64(3)
) ENGINE = ReplacingMergeTree ORDER BY version
"""

SCHEMA_MIGRATIONS_EXISTS = (
    "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'schema_migrations'"
)
SELECT_APPLIED_VERSIONS = "SELECT DISTINCT version FROM schema_migrations ORDER BY version"

# Store.cancel: the read queries Store.cancellable marked with a log_comment.
KILL_TAGGED = "KILL QUERY WHERE Settings['log_comment'] = {tag:String} ASYNC"

# -- leases (collector/store/lease.py) -----------------------------------------------------
# One row per claim: (Name, Version) is claimed once per holder. On a cluster the table is
# KeeperMap keyed on Key = "<name>/<version>" and inserts are strict, so a second claim of
# the same version fails; on one node both claims are stored and the smaller Holder wins.
CREATE_LEASES = """
CREATE TABLE IF NOT EXISTS leases (
    Key String,
    Name String,
    Version UInt64,
    Holder String,
    ClaimedAt DateTime64(3),
    ExpiresAt DateTime64(3)
) ENGINE = MergeTree
ORDER BY (Name, Version, Holder)
TTL toDateTime(ClaimedAt) + INTERVAL 1 DAY
"""
LEASE_CURRENT = """
SELECT Version, Holder, ExpiresAt > now64(3) AS Live FROM leases
WHERE Name = {name:String} ORDER BY Version DESC, Holder LIMIT 1
"""
LEASE_CLAIM = """
INSERT INTO leases (Key, Name, Version, Holder, ClaimedAt, ExpiresAt) SETTINGS keeper_map_strict_mode = 1
SELECT {key:String}, {name:String}, {version:UInt64}, {holder:String}, now64(3),
       now64(3) + toIntervalMillisecond({ttl_ms:UInt64})
"""
LEASE_PRUNE = "DELETE FROM leases WHERE Name = {name:String} AND Version < {below:UInt64}"
