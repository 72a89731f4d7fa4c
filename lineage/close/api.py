"""``GET /api/v1/close`` and ``GET /api/v1/close/{legal_entity}/{period}``: the close gate."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from lineage.api.deps import Svc, bad
from lineage.auth.principal import CurrentScope
from lineage.close import service
from lineage.close.config import CloseConfig
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
    scope: CurrentScope,
    request: Request,
    period: Annotated[str, Query(description="YYYY-MM; default: last month (UTC)")] = "",
) -> Any:
    """The gate of every legal entity of the close calendar in the caller's scope for one period:
    status (open, blocked, ready), days to the deadline, and each blocking group with its count,
    money per currency and a bounded list."""
    chosen = period or previous_period(to_ms(utcnow()), "UTC")
    try:
        return {"period": chosen, "gates": service.gates(svc, _config(request), scope, chosen)}
    except service.CloseError as exc:
        raise bad(str(exc)) from exc


@router.get("/close/{legal_entity}/{period}", response_model=Gate)
def close_one(svc: Svc, scope: CurrentScope, request: Request, legal_entity: str, period: str) -> Any:
    """The gate of one legal entity and period; 404 for an entity outside the caller's scope."""
    if not service.reaches(scope, legal_entity):
        raise HTTPException(404, f"legal entity {legal_entity!r} not found")
    try:
        return service.gate(svc, _config(request), scope, legal_entity, period)
    except service.CloseError as exc:
        raise bad(str(exc)) from exc
