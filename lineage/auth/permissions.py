"""THE permission table: (method, route path template) -> what it needs and what it logs.

A route missing from :data:`RULES` is refused for every role (fail closed);
tests/lineage/auth/test_permissions.py walks the composed app's routes so a new route
without a rule fails the suite. ``action`` names the access-log entry (empty: not logged);
every read of one transaction or entity, every export and every write is logged.
``target`` formats the route's path parameters into the logged target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lineage.auth.principal import ROLES, Principal, Role

Permission = Literal["read", "act", "close", "audit", "export", "admin"]

# ``close`` (preparing and reviewing a period's close) is the controllers' own: the people who act
# on exceptions and replays (operators) do not also sign the period those actions fed.
GRANTS: dict[Role, frozenset[Permission]] = {
    "viewer": frozenset({"read"}),
    "operator": frozenset({"read", "act"}),
    "controller": frozenset({"read", "close"}),
    "auditor": frozenset({"read", "audit", "export"}),
    "admin": frozenset({"read", "act", "close", "audit", "export", "admin"}),
}
assert set(GRANTS) == set(ROLES)


@dataclass(frozen=True)
class Rule:
    """What a route needs, and how a call to it is logged."""

    permission: Permission
    action: str = ""
    target: str = ""


_V1 = "/api/v1"
RULES: dict[tuple[str, str], Rule] = {
    # lineage
    ("GET", f"{_V1}/transactions/{{correlation_id}}"): Rule("read", "transaction.read", "{correlation_id}"),
    ("GET", f"{_V1}/entities/{{entity_type}}/{{entity_id}}"): Rule("read", "entity.read", "{entity_type}:{entity_id}"),
    ("GET", f"{_V1}/search"): Rule("read", "search", ""),
    ("GET", f"{_V1}/transactions"): Rule("read"),
    ("GET", f"{_V1}/exceptions"): Rule("read"),
    ("GET", f"{_V1}/exceptions/{{exception_id}}"): Rule("read", "exception.read", "{exception_id}"),
    ("POST", f"{_V1}/exceptions/{{exception_id}}/ack"): Rule("act", "exception.ack", "{exception_id}"),
    ("POST", f"{_V1}/exceptions/{{exception_id}}/resolve"): Rule("act", "exception.resolve", "{exception_id}"),
    ("GET", f"{_V1}/metrics/posting-latency"): Rule("read"),
    ("GET", f"{_V1}/metrics/throughput"): Rule("read"),
    ("GET", f"{_V1}/metrics/exception-backlog"): Rule("read"),
    ("GET", f"{_V1}/sla/breaches"): Rule("read"),
    # insights (lineage/insights): pickers, the latency histogram, money at risk and its lists
    ("GET", f"{_V1}/flows"): Rule("read"),
    ("GET", f"{_V1}/systems"): Rule("read"),
    ("GET", f"{_V1}/metrics/posting-latency/histogram"): Rule("read"),
    ("GET", f"{_V1}/at-risk"): Rule("read"),
    ("GET", f"{_V1}/overview"): Rule("read"),
    ("GET", f"{_V1}/known"): Rule("read"),
    # business metrics for Prometheus (lineage/api/business_metrics.py), scraped with a viewer token
    ("GET", "/metrics/business"): Rule("read"),
    ("GET", f"{_V1}/explain"): Rule("read"),
    ("GET", f"{_V1}/close"): Rule("read"),
    ("GET", f"{_V1}/close/{{legal_entity}}/{{period}}"): Rule("read"),
    ("GET", f"{_V1}/close/{{legal_entity}}/{{period}}/certificate"): Rule(
        "read", "close.certificate", "{legal_entity}/{period}"
    ),
    ("POST", f"{_V1}/close/{{legal_entity}}/{{period}}/prepare"): Rule(
        "close", "close.prepare", "{legal_entity}/{period}"
    ),
    ("POST", f"{_V1}/close/{{legal_entity}}/{{period}}/review"): Rule(
        "close", "close.review", "{legal_entity}/{period}"
    ),
    # flows (issue 17): KPIs, waiting queues, reconciliations
    ("GET", f"{_V1}/kpis"): Rule("read"),
    ("GET", f"{_V1}/flows/{{flow}}/waiting"): Rule("read"),
    ("GET", f"{_V1}/reconciliations"): Rule("read"),
    ("GET", f"{_V1}/reconciliations/{{name}}"): Rule("read"),
    ("GET", f"{_V1}/reconciliations/{{name}}/breaks"): Rule("read"),
    # alerts
    ("GET", f"{_V1}/alerts"): Rule("read"),
    ("GET", f"{_V1}/silences"): Rule("read"),
    ("POST", f"{_V1}/silences"): Rule("act", "silence.create"),
    ("DELETE", f"{_V1}/silences/{{silence_id}}"): Rule("act", "silence.expire", "{silence_id}"),
    # tickets (alerts/tickets): ServiceNow or Jira says a ticket was resolved; an operator token
    ("POST", f"{_V1}/tickets/{{receiver}}/events"): Rule("act", "ticket.event", "{receiver}"),
    # replay (lineage/replay): operators request, approve and cancel; every write is logged
    ("POST", f"{_V1}/exceptions/{{exception_id}}/replay"): Rule("act", "replay.request", "{exception_id}"),
    ("POST", f"{_V1}/replays"): Rule("act", "replay.bulk"),
    ("POST", f"{_V1}/replays/{{replay_id}}/approve"): Rule("act", "replay.approve", "{replay_id}"),
    ("POST", f"{_V1}/replays/{{replay_id}}/cancel"): Rule("act", "replay.cancel", "{replay_id}"),
    ("GET", f"{_V1}/replays"): Rule("read"),
    ("GET", f"{_V1}/replays/{{replay_id}}"): Rule("read", "replay.read", "{replay_id}"),
    # evidence (lineage/evidence): exports are logged; anyone authenticated may read seals to anchor them
    ("GET", f"{_V1}/transactions/{{correlation_id}}/evidence"): Rule("export", "evidence.export", "{correlation_id}"),
    ("GET", f"{_V1}/transactions/{{correlation_id}}/seal-status"): Rule("read"),
    ("GET", f"{_V1}/seals/latest"): Rule("read"),
    ("GET", f"{_V1}/seals/public-key"): Rule("read"),
    ("POST", f"{_V1}/seals"): Rule("admin", "seal.now"),
    # auth
    ("GET", f"{_V1}/whoami"): Rule("read"),
    ("GET", f"{_V1}/audit-log"): Rule("audit", "audit_log.read"),
    ("GET", f"{_V1}/tokens"): Rule("admin", "token.list"),
    ("POST", f"{_V1}/tokens"): Rule("admin", "token.create"),
    ("DELETE", f"{_V1}/tokens/{{token_id}}"): Rule("admin", "token.revoke", "{token_id}"),
}


def allowed(role: Role, permission: Permission) -> bool:
    """True when ``role`` holds ``permission``."""
    return permission in GRANTS[role]


def permissions_of(role: Role) -> list[str]:
    """The permissions of a role, sorted (shown by ``/whoami`` so clients can hide actions)."""
    return sorted(GRANTS[role])


def identity(principal: Principal) -> dict[str, object]:
    """Who the caller is (``/whoami`` and ``/known``): subject, role, how proven, scope, permissions."""
    return {
        "subject": principal.subject,
        "role": principal.role,
        "via": principal.via,
        "scope": {
            "legal_entities": list(principal.scope.legal_entities),
            "regions": list(principal.scope.regions),
        },
        "permissions": permissions_of(principal.role),
    }
