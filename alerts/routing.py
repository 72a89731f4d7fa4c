"""Receivers and the routing tree (``LEDGERLINE_ALERT_RECEIVERS``: a file path or inline YAML).

Secrets (Slack webhook URLs, PagerDuty routing keys, ServiceNow and Jira credentials) are named
by environment variable (``url_env``, ``routing_key_env``, ``username_env``/``password_env``,
``token_env``) and never written in the file. ``servicenow`` and ``jira`` receivers take
tickets (``tickets:`` rules, alerts/tickets), not alerts.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from alerts.errors import RuleError
from alerts.rules import Duration
from collector.config import read_yaml, source_text, validate
from collector.store.errors import ConfigError

# The smallest receivers config (inline YAML for LEDGERLINE_ALERT_RECEIVERS): every alert to one
# webhook. Told to whoever runs without a receiver (the demo, the dashboard's alerts page).
EXAMPLE_RECEIVERS = (
    '{receivers: [{name: hook, type: webhook, url: "https://example.com/hook"}], route: {receiver: hook}}'
)


class Receiver(BaseModel):
    """Where notifications go."""

    model_config = ConfigDict(extra="forbid")

    name: str
    type: Literal["webhook", "alertmanager", "slack", "pagerduty", "servicenow", "jira"]
    url: str | None = None
    url_env: str | None = None
    routing_key_env: str | None = None
    send_resolved: bool = True
    max_alerts: int = Field(0, ge=0, description="Alerts per webhook message; 0 = all.")
    resend_delay: Duration = 60.0  # alertmanager: how often firing alerts are re-posted
    # -- ticket receivers (servicenow, jira): basic auth or a bearer token, from the environment
    username_env: str | None = None
    password_env: str | None = None
    token_env: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict, description="Extra fields set on every new ticket.")
    max_backoff: Duration = 600.0  # the longest wait between two tries of one ticket action
    # servicenow (Table API)
    table: str = Field("incident", pattern=r"^[a-z][a-z0-9_]*$")
    comment_field: Literal["work_notes", "comments"] = "work_notes"
    correlation_field: str = "correlation_id"  # carries ledgerline's id: a retried open finds its ticket
    resolve_fields: dict[str, str] = Field(default_factory=lambda: {"state": "6", "close_code": "Solution provided"})
    resolved_states: list[str] = Field(default_factory=lambda: ["6", "7"])  # inbound: these states resolve
    # jira (REST API v2 or v3)
    api_version: Literal[2, 3] = 2
    project: str | None = None
    issue_type: str = "Task"
    resolve_transition: str = "Done"
    resolve_transition_id: str | None = None

    @model_validator(mode="after")
    def _target(self) -> Receiver:
        if self.type == "pagerduty":
            self.url = self.url or "https://events.pagerduty.com/v2/enqueue"
            if not self.routing_key_env:
                raise ValueError("pagerduty needs routing_key_env")
        if not (self.url or self.url_env):
            raise ValueError("give url or url_env")
        if self.type == "jira" and not self.project:
            raise ValueError("jira needs project")
        if self.tickets and bool(self.username_env) != bool(self.password_env):
            raise ValueError("give username_env and password_env together")
        # Secrets live in the environment; a missing one is a start-up error, not a failed page later.
        for var in (self.url_env, self.routing_key_env, self.username_env, self.password_env, self.token_env):
            if var and not os.environ.get(var):
                raise ValueError(f"environment variable {var} is not set")
        return self

    def target(self) -> str:
        """The URL, read from the environment when ``url_env`` is set."""
        if self.url_env:
            value = os.environ.get(self.url_env, "")
            if not value:
                raise RuleError(f"receiver {self.name!r}: environment variable {self.url_env} is not set")
            return value
        return self.url or ""

    @property
    def tickets(self) -> bool:
        """True for receivers that take tickets (ServiceNow, Jira) rather than alerts."""
        return self.type in ("servicenow", "jira")

    def secret(self, env: str | None) -> SecretStr:
        """A credential named by an ``*_env`` field, read now (empty when the field is unset)."""
        return SecretStr(os.environ.get(env, "")) if env else SecretStr("")

    def routing_key(self) -> SecretStr:
        """The PagerDuty routing key from the environment."""
        value = os.environ.get(self.routing_key_env or "", "")
        if not value:
            raise RuleError(f"receiver {self.name!r}: environment variable {self.routing_key_env} is not set")
        return SecretStr(value)


class Route(BaseModel):
    """A node of the routing tree; children inherit unset fields."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    receiver: str | None = None
    matchers: dict[str, str] = Field(default_factory=dict)
    group_by: list[str] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    continue_: bool = Field(False, alias="continue")
    routes: list[Route] = Field(default_factory=list)


class Policy(BaseModel):
    """A resolved route: the receiver and its grouping timings."""

    receiver: str
    group_by: tuple[str, ...]
    group_wait_ms: int
    group_interval_ms: int
    repeat_interval_ms: int


class TicketRule(BaseModel):
    """Which exceptions open a ticket, and where: every condition given must hold."""

    model_config = ConfigDict(extra="forbid")

    receiver: str
    categories: list[str] = Field(default_factory=list, description="Error categories; empty: any.")
    min_amount: float | None = Field(None, ge=0, description="Only entities with a known amount at least this.")
    currency: str | None = Field(None, description="With min_amount: only amounts in this currency.")
    legal_entities: list[str] = Field(default_factory=list, description="Failures of these entities; empty: any.")
    lookback: Duration = 86400.0  # exceptions with a failure this recent are considered


class ReceiversConfig(BaseModel):
    """Receivers plus the root route, and the ticket rules."""

    model_config = ConfigDict(extra="forbid")

    receivers: list[Receiver] = Field(default_factory=list)
    route: Route = Field(default_factory=Route)
    tickets: list[TicketRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known(self) -> ReceiversConfig:
        names = {r.name for r in self.receivers}
        takers = {r.name for r in self.receivers if r.tickets}
        for rule in self.tickets:
            if rule.receiver not in takers:
                raise ValueError(f"ticket rule names {rule.receiver!r}, not a servicenow or jira receiver")

        def walk(route: Route) -> None:
            if route.receiver and route.receiver not in names:
                raise ValueError(f"route names unknown receiver {route.receiver!r}")
            if route.receiver in takers:
                raise ValueError(f"route names {route.receiver!r}: servicenow and jira receivers take tickets")
            for child in route.routes:
                walk(child)

        walk(self.route)
        return self

    def receiver(self, name: str) -> Receiver:
        """The receiver called ``name``."""
        return next(r for r in self.receivers if r.name == name)

    def policies(self, labels: dict[str, str]) -> list[Policy]:
        """Where an alert goes: the deepest matching routes (siblings only with ``continue``)."""
        root = self.route
        base = Policy(
            receiver=root.receiver or "",
            group_by=tuple(root.group_by or ["alertname"]),
            group_wait_ms=int((30 if root.group_wait is None else root.group_wait) * 1000),
            group_interval_ms=int((root.group_interval or 300) * 1000),
            repeat_interval_ms=int((root.repeat_interval or 14400) * 1000),
        )
        found = _match(root, labels, base)
        return [p for p in found if p.receiver]


def _inherit(route: Route, parent: Policy) -> Policy:
    gi = int(route.group_interval * 1000) if route.group_interval else parent.group_interval_ms
    ri = int(route.repeat_interval * 1000) if route.repeat_interval else parent.repeat_interval_ms
    return Policy(
        receiver=route.receiver or parent.receiver,
        group_by=tuple(route.group_by) if route.group_by is not None else parent.group_by,
        group_wait_ms=int(route.group_wait * 1000) if route.group_wait is not None else parent.group_wait_ms,
        group_interval_ms=gi,
        # As Alertmanager: repeat_interval is rounded up to a multiple of group_interval.
        repeat_interval_ms=math.ceil(ri / gi) * gi if gi else ri,
    )


def _match(route: Route, labels: dict[str, str], policy: Policy) -> list[Policy]:
    out: list[Policy] = []
    for child in route.routes:
        if all(labels.get(k, "") == v for k, v in child.matchers.items()):
            out += _match(child, labels, _inherit(child, policy))
            if not child.continue_:
                break
    return out or [_inherit(route, policy)]


def load_receivers(source: str | Path | None) -> ReceiversConfig:
    """From a file path, inline YAML/JSON, or nothing (no receivers); errors name the line."""
    if not source:
        return ReceiversConfig()
    try:
        text, name = source_text(source, "receivers config")
        doc = read_yaml(text, name)
        return validate(ReceiversConfig, doc.data or {}, doc)
    except ConfigError as exc:
        raise RuleError(str(exc)) from None
