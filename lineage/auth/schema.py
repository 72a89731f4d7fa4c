"""Schema of API authentication (migration versions 150-159)."""

from __future__ import annotations

from collector.store import Migration
from lineage.auth import queries

MIGRATIONS: tuple[Migration, ...] = (
    Migration(150, "auth: API tokens (hashed secrets, append-only revocation)", (queries.CREATE_API_TOKENS,)),
    Migration(151, "auth: access log", (queries.CREATE_ACCESS_LOG,)),
    Migration(152, "auth: the data scope each access-log entry touched", (queries.ADD_ACCESS_SCOPES,)),
)
