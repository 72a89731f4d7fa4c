"""HTTP routes of tamper evidence (mounted into the lineage app).

Permissions intended (the auth work's table): evidence export: auditor, admin; seal
status, latest seal, public key: every authenticated role; POST /api/v1/seals: admin.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request

from lineage.auth.principal import CurrentPrincipal
from lineage.core.service import Lineage
from lineage.evidence import pack
from lineage.evidence.errors import NotSealed, SpansScopes, WrongSealKey
from lineage.evidence.service import EvidenceService


def _lineage(request: Request) -> Lineage:
    svc: Lineage = request.app.state.lineage
    return svc


def _evidence(request: Request) -> EvidenceService:
    service: EvidenceService | None = getattr(request.app.state, "evidence", None)
    if service is None:  # an app composed without a seal key (tools, some tests)
        raise HTTPException(503, "tamper evidence is not configured in this process")
    return service


Evidence = Annotated[EvidenceService, Depends(_evidence)]
router = APIRouter(prefix="/api/v1", tags=["evidence"])


@router.get("/transactions/{correlation_id}/evidence")
def export_evidence(service: Evidence, request: Request, correlation_id: str, principal: CurrentPrincipal) -> Any:
    """The evidence pack of a transaction; the export is written to the access log."""
    try:
        built = service.pack(_lineage(request), correlation_id, principal.scope)
    except SpansScopes as exc:
        raise HTTPException(409, str(exc)) from None
    except NotSealed as exc:
        retry = str(max(1, int(service.settings.seal_interval_s)))
        raise HTTPException(409, str(exc), headers={"Retry-After": retry}) from None
    if built is None:
        raise HTTPException(404, f"no hops stored for correlation ID {correlation_id!r}")
    pack.record_export(service.store, principal.subject, principal.role, built)
    return built


@router.get("/transactions/{correlation_id}/seal-status")
def seal_status(
    service: Evidence, request: Request, correlation_id: str, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Whether the transaction's hops are sealed, and whether its evidence verifies."""
    if _lineage(request).transaction(principal.scope, correlation_id) is None:
        raise HTTPException(404, f"no hops stored for correlation ID {correlation_id!r}")
    out = service.status(_lineage(request), correlation_id, principal.scope)
    if not out["hops"]:
        raise HTTPException(404, f"no hops stored for correlation ID {correlation_id!r}")
    return out


@router.get("/seals/latest")
def latest_seal(service: Evidence, principal: CurrentPrincipal) -> dict[str, Any]:
    """The newest signed seal: record its ``seal_hash`` somewhere ledgerline cannot reach."""
    seal = service.latest()
    if seal is None:
        raise HTTPException(404, "nothing has been sealed yet")
    return seal


@router.get("/seals/public-key")
def public_key(service: Evidence, principal: CurrentPrincipal) -> dict[str, str]:
    """The seal public key (PEM) and its fingerprint (hex SHA-256 of the raw key)."""
    return service.public_key()


@router.post("/seals")
def seal_now(service: Evidence, principal: CurrentPrincipal) -> dict[str, Any]:
    """Seal now; returns the new seal, or the latest one when nothing new was stored."""
    try:
        made = service.sealer.seal_now()
    except WrongSealKey as exc:
        raise HTTPException(409, str(exc)) from None
    latest = service.latest()
    return {"sealed": made is not None, "seal": latest}
