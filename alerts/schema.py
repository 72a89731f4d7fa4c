"""Schema of the alerts component (migration versions 200+): instance state (latest row
wins), the append-only transition history, the notification log and silences; the tickets'
outbox and the exception-to-ticket links (alerts/tickets)."""

from __future__ import annotations

from alerts import queries
from alerts.tickets import queries as tickets
from collector.store import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(200, "alerts: instance state and transition history", (queries.CREATE_STATE, queries.CREATE_HISTORY)),
    Migration(201, "alerts: notification log and silences", (queries.CREATE_NFLOG, queries.CREATE_SILENCES)),
    Migration(
        202,
        "tickets: outbox, exception tickets, ticket entries in the exception trail",
        (tickets.CREATE_OUTBOX, tickets.CREATE_TICKETS, tickets.TICKET_IN_TRAIL),
    ),
)
