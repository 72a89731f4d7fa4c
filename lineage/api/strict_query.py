"""Unknown query parameters are refused: a typo'd filter (``legal_entitiy=DE01``) answered 200
with unfiltered figures, which a finance user reads as the entity's own. A ``/api/`` route now
answers 422 naming the parameter and the ones it takes (FastAPI ignores undeclared ones)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.params import Depends


def _declared(dependant: Dependant) -> frozenset[str]:
    """The query parameters a route declares, its dependencies' included."""
    names: set[str] = set()
    todo = [dependant]
    while todo:
        d = todo.pop()
        names.update(p.alias for p in d.query_params)
        todo.extend(d.dependencies)
    return frozenset(names)


async def known_query(request: Request) -> None:
    """App-level dependency: 422 for a query parameter the matched ``/api/`` route does not take."""
    route: Any = request.scope.get("route")
    if not getattr(route, "path", "").startswith("/api/") or not request.query_params:
        return
    takes = getattr(route, "_query_names", None)
    if takes is None:  # once per route: the walk is not redone on every call
        takes = route._query_names = _declared(route.dependant)
    unknown = sorted(set(request.query_params) - takes)
    if unknown:
        listed = ", ".join(sorted(takes)) or "none"
        raise HTTPException(422, f"unknown query parameter {unknown[0]!r}: this route takes {listed}")


def install(app: FastAPI) -> None:
    """Check every route's query parameters (before the routers are included)."""
    app.router.dependencies.append(Depends(known_query))
