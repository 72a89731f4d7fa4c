"""One query context from the URL to the SQL: the time window, flow, system, region and legal
entity every figure route takes, and the echo of what it applied.

Region and legal entity narrow the caller's scope (lineage/core/scope.py ``Scope.narrowed``), so
every query that keeps scope in SQL applies them alike; flow and system are applied by each
route's own SQL. A route that cannot apply a filter names it in ``not_applied`` with the reason,
and a value no hop in the caller's scope carried in the last 92 days is named in ``unknown``
(with the known values): a figure is never shown for a context it was not computed for.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Query, Request
from pydantic import BaseModel

from lineage.api.deps import MAX_WINDOW_MS, WINDOWS, Svc, bad
from lineage.auth.principal import CurrentScope
from lineage.core.scope import Scope
from lineage.core.service import Lineage
from lineage.core.shape import iso
from lineage.core.timeparse import to_ms, utcnow
from lineage.core.window import Window
from lineage.sql import queries

FILTERS = ("flow", "system", "region", "legal_entity")
# Why a flow filter does not narrow what belongs to an entity and step rather than a transaction.
NOT_PER_FLOW = "exceptions belong to an entity and step, not to a flow"
_KNOWN_TTL_S = 60.0


class NotApplied(BaseModel):
    filter: str
    value: str
    reason: str


class Unknown(BaseModel):
    filter: str
    value: str
    known: list[str]


class ContextOut(BaseModel):
    """The context a figure was computed for."""

    since: str
    until: str
    flow: str | None
    system: str | None
    region: str | None
    legal_entity: str | None
    not_applied: list[NotApplied]
    unknown: list[Unknown]


@dataclass(frozen=True)
class Context:
    """A figure route's context: the window, the filters, and the scope narrowed by them."""

    window: Window
    flow: str
    system: str
    region: str
    legal_entity: str
    scope: Scope
    unknown: tuple[Unknown, ...] = field(default=())

    def echo(self, *, flow: str | None = None, not_applied: dict[str, str] | None = None) -> ContextOut:
        """The context as applied: ``flow`` the flow the route used (its default when none was
        asked); ``not_applied`` maps a filter the route could not apply to why (named only when
        set)."""
        values = {"flow": self.flow, "system": self.system, "region": self.region, "legal_entity": self.legal_entity}
        not_applied = not_applied or {}
        skipped = [NotApplied(filter=k, value=values[k], reason=r) for k, r in not_applied.items() if values.get(k)]
        return ContextOut(
            since=iso(self.window.since_ms) or "",
            until=iso(self.window.until_ms) or "",
            flow=(self.flow if flow is None else flow) or None,
            system=self.system or None,
            region=self.region or None,
            legal_entity=self.legal_entity or None,
            not_applied=skipped,
            unknown=list(self.unknown),
        )


class _Known:
    """The dimension values of a scope, cached for a minute (one small query per scope)."""

    def __init__(self) -> None:
        self._cache: dict[Scope, tuple[float, dict[str, list[str]]]] = {}
        self._lock = threading.Lock()

    def of(self, svc: Lineage, scope: Scope) -> dict[str, list[str]]:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(scope)
            if hit is not None and now - hit[0] < _KNOWN_TTL_S:
                return hit[1]
        params = {"since_ms": to_ms(utcnow()) - MAX_WINDOW_MS, **scope.params()}
        row = svc.store.query_dicts(queries.DIMENSIONS, params)[0]
        known = {k: sorted(str(v) for v in row[f"{k}s" if k != "legal_entity" else "legal_entities"])
                 for k in ("system", "region", "legal_entity")}  # fmt: skip
        with self._lock:
            if len(self._cache) > 1000:
                self._cache.clear()
            self._cache[scope] = (now, known)
        return known


KNOWN = _Known()


def _build(svc: Lineage, scope: Scope, window: Window, flow: str, system: str, region: str, le: str) -> Context:
    if flow and flow not in svc.config.flows:
        raise bad(f"unknown flow {flow!r}; known: {', '.join(sorted(svc.config.flows))}")
    wanted = {"system": system.strip(), "region": region.strip(), "legal_entity": le.strip()}
    unknown: list[Unknown] = []
    if any(wanted.values()):
        known = KNOWN.of(svc, scope)
        unknown = [Unknown(filter=k, value=v, known=known[k]) for k, v in wanted.items() if v and v not in known[k]]
    narrowed = scope.narrowed(wanted["legal_entity"], wanted["region"])
    return Context(window, flow, wanted["system"], wanted["region"], wanted["legal_entity"], narrowed, tuple(unknown))


_SYSTEM = Query(description="system")
_REGION = Query(description="region: figures from that region's hops only")
_LE = Query(description="legal entity: figures from its hops only")


def context_dep(default_since: str | None, *, with_flow: bool = True) -> Callable[..., Context]:
    """A dependency parsing the context; ``default_since`` as for :func:`lineage.api.deps.window_dep`.
    For routes that name their flow in the path, a ``flow`` parameter may repeat it (a client
    sending one context to every route) but not contradict it (422)."""
    window_of = WINDOWS[default_since]

    def context(
        svc: Svc,
        scope: CurrentScope,
        window: Annotated[Window, Depends(window_of)],
        flow: Annotated[str, Query(description="flow name")] = "",
        system: Annotated[str, _SYSTEM] = "",
        region: Annotated[str, _REGION] = "",
        legal_entity: Annotated[str, _LE] = "",
    ) -> Context:
        return _build(svc, scope, window, flow, system, region, legal_entity)

    def context_of_path_flow(
        request: Request,
        svc: Svc,
        scope: CurrentScope,
        window: Annotated[Window, Depends(window_of)],
        also: Annotated[str, Query(alias="flow", description="the path's flow again, if at all")] = "",
        system: Annotated[str, _SYSTEM] = "",
        region: Annotated[str, _REGION] = "",
        legal_entity: Annotated[str, _LE] = "",
    ) -> Context:
        named = request.path_params.get("flow", "")
        if also and also != named:
            raise bad(f"the path names flow {named!r}; the flow parameter {also!r} contradicts it")
        return _build(svc, scope, window, "", system, region, legal_entity)

    return context if with_flow else context_of_path_flow


Ctx = Annotated[Context, Depends(context_dep(None))]
MetricsCtx = Annotated[Context, Depends(context_dep("24h"))]
RecCtx = Annotated[Context, Depends(context_dep("7d"))]
# Routes whose path names the flow (``/flows/{flow}/...``).
PathFlowCtx = Annotated[Context, Depends(context_dep(None, with_flow=False))]
