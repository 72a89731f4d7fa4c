"""Test-only stand-in for the auth layer (issue 9): sets the request's principal.

The one place the lead swaps for real tokens when auth is merged.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from lineage.principal import Principal


class _SetPrincipal:
    def __init__(self, app: Any, principal: Principal) -> None:
        self.app = app
        self.principal = principal

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})["principal"] = self.principal
        await self.app(scope, receive, send)


def as_principal(app: FastAPI, principal: Principal) -> FastAPI:
    """Make every request to ``app`` arrive authenticated as ``principal``."""
    app.add_middleware(_SetPrincipal, principal=principal)
    return app
