"""The one migration registry: every component's schema, applied in the same order everywhere.

``serve``, ``migrate``, ``alerts``, the benchmarks and the tests all call :func:`migrate_all`,
so a store is never left with one component's tables and not another's.
"""

from __future__ import annotations

from alerts.schema import MIGRATIONS as ALERTS
from collector.schema import MIGRATIONS as COLLECTOR
from collector.store import Migration, Store, migrate
from lineage.auth.schema import MIGRATIONS as AUTH
from lineage.replay.schema import MIGRATIONS as REPLAY
from lineage.schema import MIGRATIONS as LINEAGE

MIGRATIONS: tuple[Migration, ...] = tuple(
    sorted((*COLLECTOR, *LINEAGE, *AUTH, *REPLAY, *ALERTS), key=lambda m: m.version)
)


def migrate_all(store: Store) -> list[int]:
    """Apply every migration the store lacks; return the versions applied."""
    return migrate(store, MIGRATIONS)
