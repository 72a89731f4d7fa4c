"""Output models of the alerts API: Alertmanager's field names, one model per answer, so the
OpenAPI document (``/docs``) shows every field a client receives."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from alerts.silences import Silence


class AlertStatus(BaseModel):
    """Whether a silence covers the alert now, and which."""

    state: Literal["active", "suppressed"]
    silencedBy: list[str] = Field(description="IDs of the silences covering the alert now.")  # noqa: N815


class AlertOut(BaseModel):
    """One alert instance (its identity is its labels)."""

    labels: dict[str, str]
    annotations: dict[str, str] = Field(
        description="summary, description, runbook_url, dashboard_url and correlation_ids (the examples)."
    )
    fingerprint: str
    state: Literal["inactive", "pending", "firing", "resolved"]
    value: float
    activeAt: str | None = Field(description="When the condition first held (RFC 3339).")  # noqa: N815
    startsAt: str | None = Field(description="When it started firing.")  # noqa: N815
    endsAt: str = Field(description="When it resolved; Alertmanager's zero time while not resolved.")  # noqa: N815
    status: AlertStatus


class RuleHealthOut(BaseModel):
    """The last evaluation of one rule."""

    name: str
    health: Literal["ok", "error", "unknown"]
    lastError: str  # noqa: N815
    lastEvaluation: str | None  # noqa: N815


class AlertsOut(BaseModel):
    """The alerts the caller may see and the health of every rule."""

    alerts: list[AlertOut]
    rules: list[RuleHealthOut]
    receivers: list[str] = Field(
        description="Names of the configured receivers (LEDGERLINE_ALERT_RECEIVERS); empty: notifications go nowhere."
    )


class SilenceStatus(BaseModel):
    """Where a silence stands now."""

    state: Literal["pending", "active", "expired"]


class SilenceOut(Silence):
    """A stored silence with its state now."""

    status: SilenceStatus


class SilenceCreated(BaseModel):
    """The id the server assigned."""

    silenceID: str  # noqa: N815


class SilenceDeleted(BaseModel):
    """The id of the silence expired."""

    deleted: str
