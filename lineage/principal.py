"""Who is asking: the authenticated principal of an API request.

The auth layer authenticates every ``/api/v1/*`` request before any route dependency runs
and stores a :class:`Principal` at ``request.state.principal``. Routes never read identity
from a request body: they take :data:`CurrentPrincipal` (the actor of every write) and
:data:`CurrentScope` (what every query is limited to).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request

from lineage.scope import EVERYTHING, Scope

Role = Literal["viewer", "operator", "auditor", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "auditor", "admin")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: subject, role and data scope; ``via`` says how it was proven."""

    subject: str
    role: Role
    scope: Scope = field(default=EVERYTHING)
    via: str = "token"


def current_principal(request: Request) -> Principal:
    """The request's principal; 401 when the auth layer did not set one (fail closed)."""
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise HTTPException(401, "authentication required", headers={"WWW-Authenticate": "Bearer"})
    return principal


def current_scope(request: Request) -> Scope:
    """The data scope of the request's principal."""
    return current_principal(request).scope


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
CurrentScope = Annotated[Scope, Depends(current_scope)]
