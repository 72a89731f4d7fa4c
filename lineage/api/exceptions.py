"""Routes of the exception backlog: listing, one exception with its trail, acknowledge, resolve."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException

from lineage.api.context import NOT_PER_FLOW, Ctx
from lineage.api.deps import MAX_WINDOW_MS, ExcId, Svc
from lineage.api.models import ActionIn, ExceptionList, ExceptionOut
from lineage.auth.principal import CurrentPrincipal, CurrentScope
from lineage.core.timeparse import to_ms, utcnow

router = APIRouter(prefix="/api/v1/exceptions", tags=["exceptions"])


@router.get("", response_model=ExceptionList)
def list_exceptions(
    svc: Svc,
    ctx: Ctx,
    state: Literal["open", "acknowledged", "resolved"] | None = None,
    category: str = "",
) -> Any:
    """Exceptions (failed, retried or dead-lettered entity and step) seen in the window, newest first,
    filtered by state, category, system (the failing one), region and legal entity; each with its business
    key and the amount and currency of its entity. Not per flow. At most ``limit``; ``truncated`` when more
    matched.
    """
    doc = svc.exceptions(ctx.scope, ctx.window, state or "", category, ctx.system)
    return doc | {"context": ctx.echo(not_applied={"flow": NOT_PER_FLOW})}


@router.get("/{exception_id}", response_model=ExceptionOut)
def get_exception(svc: Svc, scope: CurrentScope, exception_id: ExcId) -> Any:
    """One exception with its audit trail (acknowledgements, resolutions, replays). 404 when unknown or
    outside the caller's scope.
    """
    return found(svc.exception(scope, exception_id, to_ms(utcnow()) - MAX_WINDOW_MS), exception_id)


# The actor of a write is the authenticated subject; a body's "actor" is ignored.


@router.post("/{exception_id}/ack", response_model=ExceptionOut)
def ack(svc: Svc, principal: CurrentPrincipal, scope: CurrentScope, exception_id: ExcId, body: ActionIn) -> Any:
    """Acknowledge an exception; the authenticated caller is recorded as the actor with the note (append-only
    audit trail). Answers the exception as it is now.
    """
    done = svc.act(scope, exception_id, "ack", principal.subject, body.note, to_ms(utcnow()) - MAX_WINDOW_MS)
    return found(done, exception_id)


@router.post("/{exception_id}/resolve", response_model=ExceptionOut)
def resolve(svc: Svc, principal: CurrentPrincipal, scope: CurrentScope, exception_id: ExcId, body: ActionIn) -> Any:
    """Resolve an exception by hand; the authenticated caller is recorded as the actor with the note. A later
    failure reopens it.
    """
    done = svc.act(scope, exception_id, "resolve", principal.subject, body.note, to_ms(utcnow()) - MAX_WINDOW_MS)
    return found(done, exception_id)


def found(doc: dict[str, Any] | None, exception_id: str) -> dict[str, Any]:
    """The exception, or 404 (unknown, or outside the caller's scope)."""
    if doc is None:
        raise HTTPException(404, f"no exception {exception_id}")
    return doc
