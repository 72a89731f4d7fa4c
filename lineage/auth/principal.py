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

from lineage.core.scope import EVERYTHING, Scope

Role = Literal["viewer", "operator", "controller", "auditor", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "controller", "auditor", "admin")


def normalise_subject(subject: str) -> str:
    """The one form in which identities are stored and compared.

    Surrounding whitespace is dropped; an email-style subject (one containing ``@``) is
    case-folded, since mail providers treat ``OpA@Example.com`` and ``opa@example.com`` as one
    mailbox. Any other subject (an opaque OIDC ``sub``) is kept as is: issuers may treat case
    as significant there.
    """
    subject = subject.strip()
    return subject.casefold() if "@" in subject else subject


def same_subject(a: str, b: str) -> bool:
    """Whether two recorded identities are one person (four-eyes, sign-off, ownership checks)."""
    return normalise_subject(a) == normalise_subject(b)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: subject, role and data scope; ``via`` says how it was proven.

    The subject is kept in its normal form (:func:`normalise_subject`), so every record written
    with it (access log, replay actors, silences, sign-offs) compares equal for one person.
    """

    subject: str
    role: Role
    scope: Scope = field(default=EVERYTHING)
    via: str = "token"

    def __post_init__(self) -> None:
        object.__setattr__(self, "subject", normalise_subject(self.subject))


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
