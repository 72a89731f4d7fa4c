"""The permission table against the composed app's own route list, role by role.

Every ``/api/v1`` route of the app ``serve`` builds (lineage + auth + alerts) must have a
rule and an example request here; each role must get 2xx exactly where its grants say.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from alerts.service import AlertService
from lineage.auth.middleware import guarded
from lineage.auth.permissions import GRANTS, RULES
from lineage.auth.principal import ROLES
from lineage.auth.settings import AuthSettings
from tests.alerts.helpers import rules_file, service
from tests.lineage.auth.helpers import bearer, issue
from tests.lineage.conftest import Shared

pytestmark = pytest.mark.timeout(180)

SILENCE = {
    "matchers": [{"name": "system", "value": "sap"}],
    "startsAt": "2026-01-01T00:00:00Z",
    "endsAt": "2099-01-01T00:00:00Z",
    "comment": "maintenance",
}
Example = Callable[[TestClient, dict[str, str]], tuple[str, dict[str, Any] | None]]


def _exception_id(admin: TestClient, headers: dict[str, str]) -> str:
    listed = admin.get("/api/v1/exceptions", params={"since": "24h"}, headers=headers).json()["exceptions"]
    return str(listed[0]["id"])


def _silence_id(admin: TestClient, headers: dict[str, str]) -> str:
    return str(admin.post("/api/v1/silences", json=SILENCE, headers=headers).json()["silenceID"])


def _token_id(admin: TestClient, headers: dict[str, str]) -> str:
    body = {"subject": "victim@test.example", "role": "viewer"}
    return str(admin.post("/api/v1/tokens", json=body, headers=headers).json()["id"])


# (method, template) -> a request; a role holding the permission is let through (the route may
# still answer 404 or 409 on its own terms), a role without it gets 403.
EXAMPLES: dict[tuple[str, str], Example] = {
    ("GET", "/api/v1/transactions/{correlation_id}"): lambda c, h: ("/api/v1/transactions/C-OK", None),
    ("GET", "/api/v1/entities/{entity_type}/{entity_id}"): lambda c, h: ("/api/v1/entities/invoice/INV-OK", None),
    ("GET", "/api/v1/search"): lambda c, h: ("/api/v1/search?q=INV-OK", None),
    ("GET", "/api/v1/overview"): lambda c, h: ("/api/v1/overview", None),
    ("GET", "/api/v1/known"): lambda c, h: ("/api/v1/known", None),
    ("GET", "/api/v1/transactions"): lambda c, h: ("/api/v1/transactions", None),
    ("GET", "/api/v1/exceptions"): lambda c, h: ("/api/v1/exceptions", None),
    ("GET", "/api/v1/exceptions/{exception_id}"): lambda c, h: (f"/api/v1/exceptions/{_exception_id(c, h)}", None),
    ("POST", "/api/v1/exceptions/{exception_id}/ack"): lambda c, h: (
        f"/api/v1/exceptions/{_exception_id(c, h)}/ack",
        {"note": "n"},
    ),
    ("POST", "/api/v1/exceptions/{exception_id}/resolve"): lambda c, h: (
        f"/api/v1/exceptions/{_exception_id(c, h)}/resolve",
        {"note": "n"},
    ),
    ("GET", "/api/v1/metrics/posting-latency"): lambda c, h: ("/api/v1/metrics/posting-latency", None),
    ("GET", "/api/v1/metrics/throughput"): lambda c, h: ("/api/v1/metrics/throughput", None),
    ("GET", "/api/v1/metrics/exception-backlog"): lambda c, h: ("/api/v1/metrics/exception-backlog", None),
    ("GET", "/api/v1/sla/breaches"): lambda c, h: ("/api/v1/sla/breaches", None),
    ("GET", "/api/v1/flows"): lambda c, h: ("/api/v1/flows", None),
    ("GET", "/api/v1/systems"): lambda c, h: ("/api/v1/systems", None),
    ("GET", "/api/v1/metrics/posting-latency/histogram"): lambda c, h: (
        "/api/v1/metrics/posting-latency/histogram",
        None,
    ),
    ("GET", "/api/v1/at-risk"): lambda c, h: ("/api/v1/at-risk", None),
    ("GET", "/api/v1/kpis"): lambda c, h: ("/api/v1/kpis?flow=order_to_cash&bucket=1h", None),
    ("GET", "/api/v1/flows/{flow}/waiting"): lambda c, h: ("/api/v1/flows/order_to_cash/waiting", None),
    ("GET", "/api/v1/reconciliations"): lambda c, h: ("/api/v1/reconciliations", None),
    ("GET", "/api/v1/reconciliations/{name}"): lambda c, h: ("/api/v1/reconciliations/invoice_to_ledger", None),
    ("GET", "/api/v1/reconciliations/{name}/breaks"): lambda c, h: (
        "/api/v1/reconciliations/invoice_to_ledger/breaks",
        None,
    ),
    ("GET", "/api/v1/alerts"): lambda c, h: ("/api/v1/alerts", None),
    # no ticket receiver configured here: a role that may act gets the route's own 404
    ("POST", "/api/v1/tickets/{receiver}/events"): lambda c, h: (
        "/api/v1/tickets/snow/events",
        {"number": "INC0010001", "state": "6"},
    ),
    ("GET", "/api/v1/silences"): lambda c, h: ("/api/v1/silences", None),
    ("POST", "/api/v1/silences"): lambda c, h: ("/api/v1/silences", SILENCE),
    ("DELETE", "/api/v1/silences/{silence_id}"): lambda c, h: (f"/api/v1/silences/{_silence_id(c, h)}", None),
    ("GET", "/api/v1/whoami"): lambda c, h: ("/api/v1/whoami", None),
    ("GET", "/metrics/business"): lambda c, h: ("/metrics/business", None),
    ("GET", "/api/v1/explain"): lambda c, h: ("/api/v1/explain?subject=failed", None),
    ("GET", "/api/v1/close"): lambda c, h: ("/api/v1/close", None),
    ("GET", "/api/v1/close/{legal_entity}/{period}"): lambda c, h: ("/api/v1/close/LL-DE-GmbH/2026-11", None),
    ("GET", "/api/v1/close/{legal_entity}/{period}/certificate"): lambda c, h: (
        "/api/v1/close/LL-DE-GmbH/2026-11/certificate",
        None,
    ),
    # an entity the calendar does not have: the permission is checked, nothing is signed off
    ("POST", "/api/v1/close/{legal_entity}/{period}/prepare"): lambda c, h: (
        "/api/v1/close/LL-NONE/2026-11/prepare",
        {},
    ),
    ("POST", "/api/v1/close/{legal_entity}/{period}/review"): lambda c, h: ("/api/v1/close/LL-NONE/2026-11/review", {}),
    ("GET", "/api/v1/audit-log"): lambda c, h: ("/api/v1/audit-log", None),
    ("GET", "/api/v1/tokens"): lambda c, h: ("/api/v1/tokens", None),
    ("POST", "/api/v1/tokens"): lambda c, h: ("/api/v1/tokens", {"subject": "new@test.example", "role": "viewer"}),
    ("DELETE", "/api/v1/tokens/{token_id}"): lambda c, h: (f"/api/v1/tokens/{_token_id(c, h)}", None),
    ("POST", "/api/v1/exceptions/{exception_id}/replay"): lambda c, h: (
        f"/api/v1/exceptions/{_exception_id(c, h)}/replay",
        {"reason": "ERP back up"},
    ),
    ("POST", "/api/v1/replays"): lambda c, h: ("/api/v1/replays", {"dry_run": True, "since": "24h"}),
    ("POST", "/api/v1/replays/{replay_id}/approve"): lambda c, h: ("/api/v1/replays/r-unknown/approve", {}),
    ("POST", "/api/v1/replays/{replay_id}/cancel"): lambda c, h: ("/api/v1/replays/r-unknown/cancel", {}),
    ("GET", "/api/v1/replays"): lambda c, h: ("/api/v1/replays", None),
    ("GET", "/api/v1/replays/{replay_id}"): lambda c, h: ("/api/v1/replays/r-unknown", None),
    ("GET", "/api/v1/transactions/{correlation_id}/evidence"): lambda c, h: (
        "/api/v1/transactions/C-OK/evidence",
        None,
    ),
    ("GET", "/api/v1/transactions/{correlation_id}/seal-status"): lambda c, h: (
        "/api/v1/transactions/C-OK/seal-status",
        None,
    ),
    ("GET", "/api/v1/seals/latest"): lambda c, h: ("/api/v1/seals/latest", None),
    ("GET", "/api/v1/seals/public-key"): lambda c, h: ("/api/v1/seals/public-key", None),
    ("POST", "/api/v1/seals"): lambda c, h: ("/api/v1/seals", None),
}


@pytest.fixture(scope="module")
def composed(shared: Shared, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, AlertService]]:
    from ledgerline.server import compose_app

    rules = rules_file(Path(tmp_path_factory.mktemp("rules")), "rules: []")
    alerts = service(shared.store, rules)
    app = compose_app(shared.store, AuthSettings(), alerts)
    with TestClient(app) as client:
        yield client, alerts
    alerts.stop()


def _api_routes(client: TestClient) -> set[tuple[str, str]]:
    """(method, path template) of every ``/api/v1`` route, included routers' routes too."""
    found = set()
    for context in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        route, path = context.original_route, context.path or ""
        if isinstance(route, APIRoute) and guarded(path):
            found |= {(method, path) for method in route.methods}
    return found


def test_every_route_has_a_rule_and_an_example(composed: tuple[TestClient, AlertService]) -> None:
    routes = _api_routes(composed[0])
    assert routes - set(RULES) == set(), "routes without a permission rule"
    assert set(RULES) - routes == set(), "rules for routes that do not exist"
    assert set(EXAMPLES) == routes


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_its_grants(
    composed: tuple[TestClient, AlertService], shared: Shared, role: str
) -> None:
    client = composed[0]
    admin = bearer(issue(shared.store, "admin"))
    caller = bearer(issue(shared.store, role))
    outcome: dict[tuple[str, str], int] = {}
    for (method, template), example in sorted(EXAMPLES.items()):
        url, body = example(client, admin)
        outcome[(method, template)] = client.request(method, url, json=body, headers=caller).status_code
    expected = {key: RULES[key].permission in GRANTS[role] for key in EXAMPLES}  # type: ignore[index]
    wrong = {key: status for key, status in outcome.items() if (status not in (401, 403, 500)) != expected[key]}
    assert wrong == {}
    # Let through means answered on the route's own terms: success, or the route's 404/409/422.
    assert all(status < 500 for status in outcome.values())
    assert all(status == 403 for key, status in outcome.items() if not expected[key])


def test_a_route_without_a_rule_is_refused(shared: Shared) -> None:
    from lineage.api.app import create_app

    app = create_app(shared.lineage.settings, shared.store, AuthSettings())

    @app.get("/api/v1/unlisted")
    def unlisted() -> dict[str, str]:
        return {"leak": "yes"}

    with TestClient(app) as client:
        response = client.get("/api/v1/unlisted", headers=bearer(issue(shared.store, "admin")))
    assert response.status_code == 403 and "no permission rule" in response.json()["detail"]


def test_health_and_openapi_stay_open(composed: tuple[TestClient, AlertService]) -> None:
    client = composed[0]
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").json() == {"status": "ready"}
    assert "/api/v1/whoami" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 200
    assert client.get("/api/v1/transactions").status_code == 401


def test_every_route_is_described(composed: tuple[TestClient, AlertService]) -> None:
    spec = composed[0].get("/openapi.json").json()
    bare = [
        f"{m.upper()} {p}" for p, ops in spec["paths"].items() for m, op in ops.items() if not op.get("description")
    ]
    assert bare == []
