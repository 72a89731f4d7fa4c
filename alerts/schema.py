"""Schema of the alerts component (migration versions 200+): instance state (latest row
wins), the append-only transition history, the notification log and silences."""

from __future__ import annotations

from alerts import queries
from collector.store import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(200, "alerts: instance state and transition history", (queries.CREATE_STATE, queries.CREATE_HISTORY)),
    Migration(201, "alerts: notification log and silences", (queries.CREATE_NFLOG, queries.CREATE_SILENCES)),
)
