"""``GET /api/v1/close`` and ``GET /api/v1/close/{legal_entity}/{period}``: the close gate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from lineage.api.deps import Svc, bad
from lineage.auth.principal import CurrentPrincipal, Principal
from lineage.close import service, signoff
from lineage.close.config import CloseConfig
from lineage.close.errors import CloseError, SignOffRefused
from lineage.close.models import Gate, Gates
from lineage.close.periods import previous_period
from lineage.core.timeparse import to_ms, utcnow

router = APIRouter(prefix="/api/v1", tags=["close"])


def _config(request: Request) -> CloseConfig:
    config: CloseConfig = request.app.state.close
    return config


@router.get("/close", response_model=Gates)
def close_all(
    svc: Svc,
    who: CurrentPrincipal,
    request: Request,
    period: Annotated[str, Query(description="YYYY-MM; default: last month (UTC)")] = "",
) -> Any:
    """The gate of every legal entity of the close calendar in the caller's scope for one period:
    status (open, blocked, ready, signed, decertified), days to the deadline, and each blocking
    group with its count, money per currency and a bounded list."""
    chosen = period or previous_period(to_ms(utcnow()), "UTC")
    config = _config(request)
    entities = [le for le in sorted(config.entities) if service.reaches(who.scope, le)]
    return _answer(lambda: {"period": chosen, "gates": signoff.statuses(svc, config, who, entities, chosen)})


@router.get("/close/{legal_entity}/{period}", response_model=Gate)
def close_one(svc: Svc, who: CurrentPrincipal, request: Request, legal_entity: str, period: str) -> Any:
    """The gate of one legal entity and period, with its sign-off (``signed`` while the
    certificate's figures hold, ``decertified`` with what changed); 404 outside the caller's scope."""
    _reach(who, legal_entity)
    return _answer(lambda: signoff.status(svc, _config(request), who, legal_entity, period))


@router.post("/close/{legal_entity}/{period}/prepare", response_model=Gate)
def prepare(svc: Svc, who: CurrentPrincipal, request: Request, legal_entity: str, period: str) -> Any:
    """Record the caller as the preparer of a ready gate (409 when it is not ready)."""
    _reach(who, legal_entity)
    return _answer(lambda: signoff.prepare(svc, _config(request), who, legal_entity, period))


@router.post("/close/{legal_entity}/{period}/review", response_model=Gate)
def review(svc: Svc, who: CurrentPrincipal, request: Request, legal_entity: str, period: str) -> Any:
    """Sign the prepared round as its reviewer (four-eyes: 403 for the preparer; 409 when the
    figures changed since preparation); the certificate is signed with the seal key."""
    _reach(who, legal_entity)
    evidence = request.app.state.evidence
    if evidence is None:
        raise HTTPException(503, "no seal key: the evidence service is not running")
    return _answer(lambda: signoff.review(svc, _config(request), who, evidence.key, legal_entity, period))


@router.get("/close/{legal_entity}/{period}/certificate")
def certificate(svc: Svc, who: CurrentPrincipal, legal_entity: str, period: str) -> Any:
    """The signed close certificate of the latest signed round (404 when none)."""
    _reach(who, legal_entity)
    cert = signoff.latest_certificate(svc, legal_entity, period)
    if cert is None:
        raise HTTPException(404, f"no certificate for {legal_entity} {period}")
    return cert


def _reach(who: Principal, legal_entity: str) -> None:
    if not service.reaches(who.scope, legal_entity):
        raise HTTPException(404, f"legal entity {legal_entity!r} not found")


def _answer(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except CloseError as exc:
        raise bad(str(exc)) from exc
    except SignOffRefused as exc:
        raise HTTPException(exc.status, str(exc)) from exc
