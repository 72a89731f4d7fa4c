"""Test-only stand-in for the auth layer (issue 9): sets ``request.state.principal``.

The subject and role come from the ``X-Test-Subject`` / ``X-Test-Role`` headers (default:
``alice``, operator), so one client can act as several people. The lead swaps this for
real tokens when the auth layer is merged.
"""

from __future__ import annotations

from typing import Any

from lineage.principal import ROLES, Principal


class TestPrincipal:
    """ASGI middleware that authenticates every request as the subject its headers name."""

    __test__ = False  # not a pytest class

    def __init__(self, app: Any, default_subject: str = "alice") -> None:
        self.app = app
        self.default_subject = default_subject

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
            role = headers.get("x-test-role", "operator")
            subject = headers.get("x-test-subject", self.default_subject)
            scope.setdefault("state", {})["principal"] = Principal(subject, role if role in ROLES else "viewer")
        await self.app(scope, receive, send)


def as_user(subject: str, role: str = "operator") -> dict[str, str]:
    """Headers that make :class:`TestPrincipal` authenticate ``subject``."""
    return {"X-Test-Subject": subject, "X-Test-Role": role}
