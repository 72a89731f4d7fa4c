"""Acting as several people in one test, through the real auth layer.

:class:`TokenLogin` wraps the API app: a request carrying ``X-Test-Subject`` / ``X-Test-Role``
(default ``alice``, operator) and no ``Authorization`` header gets the bearer token of a real
API token issued for that subject and role in the test's store, so every request is
authenticated by the auth middleware exactly as in production.
"""

from __future__ import annotations

from typing import Any

from collector.store import Store
from lineage.principal import Principal
from tests.lineage.auth.helpers import issue


class TokenLogin:
    """ASGI wrapper adding a real token for the subject and role the test headers name."""

    __test__ = False  # not a pytest class

    def __init__(self, app: Any, store: Store, default_subject: str = "alice", default_role: str = "operator") -> None:
        self.app = app
        self.store = store
        self.default_subject = default_subject
        self.default_role = default_role
        self.tokens: dict[tuple[str, str], str] = {}

    def token(self, subject: str, role: str = "operator") -> str:
        """The (cached) real API token of ``subject`` with ``role``."""
        if (subject, role) not in self.tokens:
            self.tokens[(subject, role)] = issue(self.store, role, subject)
        return self.tokens[(subject, role)]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
            if "authorization" not in headers:
                subject = headers.get("x-test-subject", self.default_subject)
                token = self.token(subject, headers.get("x-test-role", self.default_role))
                scope = {
                    **scope,
                    "headers": [*scope.get("headers", []), (b"authorization", f"Bearer {token}".encode())],
                }
        await self.app(scope, receive, send)


def as_user(subject: str, role: str = "operator") -> dict[str, str]:
    """Headers that make :class:`TokenLogin` authenticate as ``subject`` with ``role``."""
    return {"X-Test-Subject": subject, "X-Test-Role": role}


def as_principal(app: Any, principal: Principal) -> TokenLogin:
    """``app`` with every request authenticated (by a real token) as ``principal`` unless it says otherwise."""
    return TokenLogin(app, app.state.lineage.store, principal.subject, principal.role)
