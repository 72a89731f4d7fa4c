"""HTTP API of the alerts: active alerts and silences (included in the lineage app by the
composition root; the service is ``app.state.alerts``).

A StoreError is left to the lineage app's handler: 503 with ``Retry-After``, like every route.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import Field

from alerts.model import Alert, State
from alerts.models import AlertOut, AlertsOut, AlertStatus, RuleHealthOut, SilenceCreated, SilenceDeleted, SilenceOut
from alerts.notify import ZERO_TIME, iso
from alerts.service import AlertService, now_ms
from alerts.silences import Silence
from lineage.auth.middleware import set_audit_target
from lineage.auth.principal import CurrentPrincipal, CurrentScope


class SilenceIn(Silence):
    """A silence as POSTed: the server assigns ``id`` and records ``createdBy`` from the caller.

    A client-sent ``id`` is refused (422), so no POST can overwrite an existing silence; a
    client-sent ``createdBy`` is accepted for Alertmanager compatibility and ignored.
    """

    createdBy: str = Field("", description="Ignored: the authenticated subject is recorded.")  # noqa: N815


def _alert(alert: Alert, silenced_by: list[str]) -> AlertOut:
    return AlertOut(
        labels=alert.labels,
        annotations=alert.annotations,
        fingerprint=alert.fingerprint,
        state=alert.state.value,
        value=alert.value,
        activeAt=iso(alert.active_at) if alert.active_at else None,
        startsAt=iso(alert.fired_at) if alert.fired_at else None,
        endsAt=iso(alert.resolved_at) if alert.state == State.RESOLVED else ZERO_TIME,
        status=AlertStatus(state="suppressed" if silenced_by else "active", silencedBy=silenced_by),
    )


def _silence(silence: Silence, at: int) -> SilenceOut:
    return SilenceOut.model_validate(silence.model_dump() | {"status": {"state": silence.state(at)}})


def _service(request: Request) -> AlertService:
    service: AlertService = request.app.state.alerts
    return service


Alerts = Annotated[AlertService, Depends(_service)]
router = APIRouter(prefix="/api/v1", tags=["alerts"])


@router.get("/alerts", response_model=AlertsOut)
def list_alerts(service: Alerts, scope: CurrentScope, state: str = "") -> AlertsOut:
    """Alerts held now (pending, firing, recently resolved) and the health of each rule; a
    scoped caller sees only alerts with an example in its scope (alerts/scoped.py)."""
    held = service.alerts(scope)
    alerts = [_alert(a, s) for a, s in held if not state or a.state.value == state]
    alerts.sort(key=lambda a: (a.labels.get("alertname", ""), a.fingerprint))
    rules = [
        RuleHealthOut(
            name=name,
            health=h.health,
            lastError=h.last_error,
            lastEvaluation=iso(h.last_eval_at) if h.last_eval_at else None,
        )
        for name, h in sorted(service.evaluator.health.items())
    ]
    return AlertsOut(alerts=alerts, rules=rules, receivers=[r.name for r in service.receivers.receivers])


@router.get("/silences", response_model=list[SilenceOut])
def list_silences(
    service: Alerts,
) -> list[SilenceOut]:
    """Every silence not deleted, with its state (pending, active, expired)."""
    at = now_ms()
    return [_silence(s, at) for s in service.silences()]


@router.post("/silences", status_code=201, response_model=SilenceCreated)
def create_silence(service: Alerts, body: SilenceIn, principal: CurrentPrincipal, request: Request) -> SilenceCreated:
    """Create a silence (Alertmanager schema: matchers, startsAt, endsAt, comment).

    The server assigns the id and records the caller as ``createdBy``; to change a
    silence, expire it (DELETE) and create a new one.
    """
    if "id" in body.model_fields_set:
        raise HTTPException(422, "silence IDs are assigned by the server; to change one, expire it and POST anew")
    fields = body.model_dump(exclude={"id", "createdBy"})
    silence = Silence.model_validate(fields | {"id": str(uuid.uuid4()), "createdBy": principal.subject})
    set_audit_target(request, silence.id)
    return SilenceCreated(silenceID=service.add_silence(silence).id)


@router.delete("/silences/{silence_id}", response_model=SilenceDeleted)
def delete_silence(service: Alerts, silence_id: str) -> SilenceDeleted:
    """Remove (expire) a silence; the access log records who did it."""
    if not service.delete_silence(silence_id):
        raise HTTPException(404, f"no silence {silence_id}")
    return SilenceDeleted(deleted=silence_id)
