"""The inbound ticket webhook: a ticket resolved in ServiceNow or Jira resolves its exception.

``POST /api/v1/tickets/{receiver}/events`` is an ordinary API route: the caller is an API token
with the ``act`` permission (an operator token kept in the other side's outbound request),
checked in constant time by the auth layer, and the token's scope applies. It is idempotent:
an exception already resolved is left as it is (200, ``changed: false``), so the same delivery
twice changes nothing. Unknown receiver or ticket: 404; a body of the wrong shape: 422.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alerts.routing import Receiver, ReceiversConfig
from alerts.tickets.outbox import Outbox
from lineage.api.deps import MAX_WINDOW_MS, Svc
from lineage.auth.principal import CurrentPrincipal, CurrentScope
from lineage.core.timeparse import to_ms, utcnow

router = APIRouter(prefix="/api/v1/tickets", tags=["tickets"])


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ServiceNowEvent(_Loose):
    """What the ServiceNow business rule posts (docs/tickets.md): the record's number or sys_id and state."""

    number: str | None = None
    sys_id: str | None = None
    state: str = Field(min_length=1)


class _Category(_Loose):
    key: str


class _Status(_Loose):
    statusCategory: _Category  # noqa: N815  (Jira's field name)


class _Fields(_Loose):
    status: _Status


class _Issue(_Loose):
    key: str = Field(min_length=1)
    fields: _Fields


class JiraEvent(_Loose):
    """A Jira webhook (``jira:issue_updated``) or automation "send web request" with the issue."""

    issue: _Issue


class TicketEventOut(BaseModel):
    """What the event did to the exception."""

    exception_id: str
    ticket: str
    state: str = Field(description="The exception's state after the event.")
    changed: bool = Field(description="False when nothing was recorded (not resolved there, or resolved already).")


def parse(receiver: Receiver, body: dict[str, Any]) -> tuple[str, bool]:
    """(ticket key or id, resolved on their side) of an event; ValidationError on a wrong shape."""
    if receiver.type == "servicenow":
        event = ServiceNowEvent.model_validate(body)
        key = event.number or event.sys_id
        if not key:
            raise ValueError("give number or sys_id")
        return key, event.state in receiver.resolved_states
    issue = JiraEvent.model_validate(body).issue
    return issue.key, issue.fields.status.statusCategory.key == "done"


def _receiver(request: Request, name: str) -> Receiver:
    alerts = getattr(request.app.state, "alerts", None)
    config: ReceiversConfig = alerts.receivers if alerts is not None else ReceiversConfig()
    found = next((r for r in config.receivers if r.name == name and r.tickets), None)
    if found is None:
        raise HTTPException(404, f"no ticket receiver {name!r}")
    return found


@router.post("/{receiver}/events", response_model=TicketEventOut)
def ticket_event(
    request: Request,
    lineage: Svc,
    principal: CurrentPrincipal,
    scope: CurrentScope,
    receiver: str,
    body: Annotated[dict[str, Any], Body()],
) -> Any:
    """A ticket changed on the other side; when it is resolved there (ServiceNow: a state in the
    receiver's ``resolved_states``; Jira: status category done) its exception is resolved, the
    caller recorded as the actor. Idempotent; 404 for an unknown receiver or ticket."""
    target = _receiver(request, receiver)
    try:
        key, resolved = parse(target, body)
    except (ValidationError, ValueError) as exc:
        errors = exc.errors(include_url=False, include_context=False) if isinstance(exc, ValidationError) else str(exc)
        raise HTTPException(422, errors) from None
    found = Outbox(lineage.store).find(receiver, key)
    if found is None:
        raise HTTPException(404, f"no ticket {key} on {receiver}")
    exception_id, ticket = found
    since = to_ms(utcnow()) - MAX_WINDOW_MS
    current = lineage.exception(scope, exception_id, since)
    if current is None:
        raise HTTPException(404, f"no exception {exception_id}")
    changed = resolved and current["state"] != "resolved"
    if changed:
        note = f"[{receiver} {ticket.key}] resolved in {receiver}"
        current = lineage.act(scope, exception_id, "resolve", principal.subject, note, since) or current
    return {"exception_id": exception_id, "ticket": ticket.key, "state": current["state"], "changed": changed}
