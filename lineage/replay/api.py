"""The replay routes (included by lineage/api/app.py; the service is ``app.state.replay``). Reads: viewer; writes:
operator. The actor of every write is the authenticated subject, never the body."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from lineage.auth.principal import CurrentPrincipal, CurrentScope
from lineage.replay.errors import NotFound, Refused
from lineage.replay.models import BulkIn, BulkOut, NoteIn, ReplayIn, ReplayList, ReplayOut
from lineage.replay.service import ReplayService
from lineage.replay.state import STATES

ReplayState = Literal[STATES]  # type: ignore[valid-type]
ExcId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="Stable exception id")]
ReplayId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="Replay id")]


def _call(fn: Any, *args: Any) -> Any:
    """Map the service's refusals to HTTP answers."""
    try:
        return fn(*args)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except Refused as exc:
        raise HTTPException(exc.status, exc.reason) from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


def _replays(request: Request) -> ReplayService:
    service: ReplayService = request.app.state.replay
    return service


Replays = Annotated[ReplayService, Depends(_replays)]
router = APIRouter(prefix="/api/v1", tags=["replay"])


@router.post("/exceptions/{exception_id}/replay", response_model=ReplayOut, status_code=201)
def request_replay(service: Replays, exception_id: ExcId, body: ReplayIn, who: CurrentPrincipal) -> Any:
    """Request a replay of an exception's failed hop with a reason; the owning system retries it (idempotent,
    no double posting). Replays that need approval wait for another operator.
    """
    return _call(service.request, exception_id, body.reason, who)


@router.post("/replays/{replay_id}/approve", response_model=ReplayOut)
def approve(service: Replays, replay_id: ReplayId, who: CurrentPrincipal, body: NoteIn | None = None) -> Any:
    """Approve a replay awaiting approval (not by the requester); the worker then sends it."""
    return _call(service.approve, replay_id, who, body.note if body else "")


@router.post("/replays/{replay_id}/cancel", response_model=ReplayOut)
def cancel(service: Replays, replay_id: ReplayId, who: CurrentPrincipal, body: NoteIn | None = None) -> Any:
    """Cancel a replay that was not sent yet."""
    return _call(service.cancel, replay_id, who, body.note if body else "")


@router.post("/replays", response_model=BulkOut)
def bulk(service: Replays, body: BulkIn, who: CurrentPrincipal) -> Any:
    """Replay many open exceptions at once (by filter, at most the bulk limit); ``dry_run`` lists what would
    be replayed.
    """
    if not body.dry_run and not body.reason.strip():
        raise HTTPException(422, "a bulk replay needs a reason (or dry_run: true)")
    return _call(service.bulk, body.filter.model_dump(), body.dry_run, body.reason, who)


@router.get("/replays", response_model=ReplayList)
def list_replays(
    service: Replays,
    scope: CurrentScope,
    state: ReplayState | None = None,
    system: str = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """Replays in the caller's scope, newest first, filtered by state and system; at most ``limit``."""
    return service.listing(state or "", system, scope, limit)


@router.get("/replays/{replay_id}", response_model=ReplayOut)
def get_replay(service: Replays, replay_id: ReplayId, scope: CurrentScope) -> Any:
    """One replay with its attempts and state. 404 when unknown or outside the caller's scope."""
    return _call(service.get, replay_id, scope)
