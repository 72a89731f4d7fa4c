"""Acting as several people in one test, through the real auth layer.

:class:`TokenLogin` wraps the API app: a request carrying ``X-Test-Subject`` / ``X-Test-Role``
(default ``alice``, operator) and no ``Authorization`` header gets the bearer token of a real
API token issued for that subject and role in the test's store, so every request is
authenticated by the auth middleware exactly as in production.
"""

from __future__ import annotations

from typing import Any

from collector.store import Store
from lineage.auth.principal import Principal
from lineage.core.scope import Scope
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


# -- named test principals (scope tests) ----------------------------------------------------
ADMIN = Principal("admin@test.example", "admin")
LE1 = Principal("le1@test.example", "operator", Scope(legal_entities=("LE-1",)))
LE2 = Principal("le2@test.example", "operator", Scope(legal_entities=("LE-2",)))
EMEA = Principal("emea@test.example", "viewer", Scope(regions=("emea",)))
AMER = Principal("amer@test.example", "viewer", Scope(regions=("amer",)))
LE1_AMER = Principal("le1-amer@test.example", "viewer", Scope(legal_entities=("LE-1",), regions=("amer",)))
PRINCIPALS = {"admin": ADMIN, "le1": LE1, "le2": LE2, "emea": EMEA, "amer": AMER, "le1-amer": LE1_AMER}


class NamedLogin:
    """ASGI wrapper: ``Authorization: Bearer <name>`` becomes the real token of ``principals[name]``
    (issued once in the app's store with its role and scope); no header -> ``default``'s token."""

    __test__ = False

    def __init__(self, app: Any, principals: dict[str, Principal], default: Principal | None) -> None:
        self.app = app
        self.store: Store = app.state.lineage.store
        self.principals = principals
        self.default = default
        self.tokens: dict[Principal, str] = {}

    def token(self, who: Principal) -> str:
        """The real API token of ``who`` (cached)."""
        if who not in self.tokens:
            scope = {"legal_entities": list(who.scope.legal_entities), "regions": list(who.scope.regions)}
            self.tokens[who] = issue(self.store, who.role, who.subject, **scope)
        return self.tokens[who]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"authorization"]
            sent = dict(scope.get("headers", [])).get(b"authorization", b"").decode("latin-1")
            who = self.principals.get(sent.removeprefix("Bearer ").strip()) if sent else self.default
            if who is not None:
                scope = {**scope, "headers": [*headers, (b"authorization", f"Bearer {self.token(who)}".encode())]}
        await self.app(scope, receive, send)


def install(app: Any, principals: dict[str, Principal] | None = None, default: Principal | None = None) -> NamedLogin:
    """``app`` behind :class:`NamedLogin` (the test principals by default)."""
    return NamedLogin(app, principals or PRINCIPALS, default)


def bearer(name: str) -> dict[str, str]:
    """Request headers naming the test principal ``name`` (see :class:`NamedLogin`)."""
    return {"Authorization": f"Bearer {name}"}
