"""The one migration registry: every component's schema, applied in the same order everywhere.

``serve``, ``migrate``, ``alerts``, the benchmarks and the tests all call :func:`migrate_all`,
so a store is never left with one component's tables and not another's.
"""

from __future__ import annotations

from alerts.schema import MIGRATIONS as ALERTS
from collector.schema import MIGRATIONS as COLLECTOR
from collector.store import Migration, Store, migrate
from lineage.auth.schema import MIGRATIONS as AUTH
from lineage.evidence.retention import apply_retention
from lineage.evidence.schema import MIGRATIONS as EVIDENCE
from lineage.evidence.settings import EvidenceSettings
from lineage.replay.schema import MIGRATIONS as REPLAY
from lineage.schema import MIGRATIONS as LINEAGE

_EVERY = (*COLLECTOR, *LINEAGE, *AUTH, *EVIDENCE, *REPLAY, *ALERTS)
MIGRATIONS: tuple[Migration, ...] = tuple(sorted(_EVERY, key=lambda m: m.version))


def migrate_all(store: Store) -> list[int]:
    """Apply every migration the store lacks; return the versions applied."""
    return migrate(store, MIGRATIONS)


def prepare_store(store: Store, tiers: EvidenceSettings) -> list[int]:
    """Migrate, then apply the retention tiers (re-applied whenever the settings change)."""
    applied = migrate_all(store)
    apply_retention(store, tiers.retention_raw_days, tiers.retention_lineage_days)
    return applied
