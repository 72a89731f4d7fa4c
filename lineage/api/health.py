"""Liveness and readiness, outside ``/api/v1`` (no credential, not in the schema)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from lineage.api.deps import Svc
from lineage.api.errors import RETRY_AFTER

router = APIRouter(include_in_schema=False, tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers (no store access: a liveness probe must not fail on a slow store)."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(svc: Svc) -> JSONResponse:
    """The store answers too."""
    if svc.store.ping():
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "store unavailable"}, status_code=503, headers=RETRY_AFTER)
