"""Real credentials for API tests: tokens stored in the test's store, sent as bearer headers."""

from __future__ import annotations

from collector.store import Store, migrate
from lineage.auth.schema import MIGRATIONS
from lineage.auth.tokens import TokenStore


def auth_tables(store: Store) -> Store:
    """``store`` with the token and access-log tables (stores from fixtures have them already)."""
    migrate(store, MIGRATIONS)
    return store


def issue(store: Store, role: str = "admin", subject: str = "", **scope: list[str]) -> str:
    """A new API token for ``role`` (subject defaults to ``<role>@test.example``)."""
    _, token = TokenStore(auth_tables(store)).create(
        subject or f"{role}@test.example", role, scope.get("legal_entities", ()), scope.get("regions", ())
    )
    return token


def bearer(token: str) -> dict[str, str]:
    """The Authorization header carrying ``token``."""
    return {"Authorization": f"Bearer {token}"}
