"""Retention tiers: a TTL per table from settings, applied at start when it differs.

Raw tier: ``otel_traces`` (``LEDGERLINE_RETENTION_RAW_DAYS``). Lineage tier: hops and
everything derived from them, the exception history, seals and the export log
(``LEDGERLINE_RETENTION_LINEAGE_DAYS``). Evidence needs only the lineage tier, so packs and
``verify --store`` keep working after raw spans expire.
"""

from __future__ import annotations

import logging
import re

from collector.store import Store
from collector.store.cluster import ClusterRenderer

log = logging.getLogger(__name__)

RAW = {"otel_traces": "Timestamp"}
LINEAGE = {
    "hops": "IngestedAt",
    "entity_edges": "SeenAt",
    "hop_keys": "StartTime",
    "span_links": "SeenAt",
    "hop_times": "EndTime",
    "hop_failures": "StartTime",
    "hop_rollup": "Minute",
    "hop_rollup_dirty": "Minute",
    "exception_actions": "At",
    "seals": "SealedAt",
    "seal_leaves": "SealedAt",
    "sealed_spans": "SealedAt",
    "evidence_exports": "At",
    "access_log": "At",
}
_ENGINE = (
    "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase() AND name IN {names:Array(String)}"
)
_MODIFY = "ALTER TABLE {table:Identifier} MODIFY TTL toDateTime({column:Identifier}) + toIntervalDay({days:UInt32})"


# How engine_full shows the TTL _MODIFY sets (the bound day count may print as a cast).
_TTL = re.compile(r"TTL toDateTime\((\w+)\) \+ toIntervalDay\((?:_CAST\()?(\d+)")


def current_ttl(engine_full: str) -> tuple[str, int] | None:
    """(column, days) of a table's tier TTL, or None when it has none."""
    match = _TTL.search(engine_full)
    return (match.group(1), int(match.group(2))) if match else None


def ttl_statement(table: str, column: str) -> str:
    """The single-node TTL statement of a tier table, for the cluster renderer."""
    if table not in RAW and table not in LINEAGE:
        raise ValueError(f"{table} is not a retention tier table")
    return f"ALTER TABLE {table} MODIFY TTL toDateTime({column}) + toIntervalDay({{days:UInt32}})"


def apply_retention(
    store: Store, raw_days: int, lineage_days: int, cluster: ClusterRenderer | None = None
) -> list[str]:
    """Set each existing table's TTL to its tier's; return the tables changed.

    On a cluster the TTL goes on the tables that hold the rows (``<table>_local`` of a
    sharded table), ``ON CLUSTER``; table and column names come from the constants above.
    """
    wanted = {t: (c, raw_days) for t, c in RAW.items()} | {t: (c, lineage_days) for t, c in LINEAGE.items()}
    storage = {cluster.storage_table(t) if cluster else t: t for t in wanted}
    engines = dict(store.query(_ENGINE, {"names": sorted(storage)}))
    changed = []
    for stored, engine in sorted(engines.items()):
        table = storage[stored]
        column, days = wanted[table]
        if current_ttl(str(engine)) == (column, days):
            continue
        if cluster is None:
            store.command(_MODIFY, {"table": table, "column": column, "days": days})
        else:
            for statement in cluster.render(ttl_statement(table, column)):
                store.command(statement, {"days": days})
        log.info("retention of %s set to %d days", table, days)
        changed.append(table)
    return changed
