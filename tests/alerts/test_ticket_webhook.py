"""The inbound ticket webhook: a ticket resolved in ServiceNow or Jira resolves its exception;
authenticated (an operator token), idempotent, 404 for an unknown ticket, 422 for a bad body.
Also: the alert service runs the ticket rounds, and a bad ticket config is refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from alerts.errors import RuleError
from alerts.routing import load_receivers
from alerts.service import AlertService
from alerts.settings import AlertSettings
from collector.store import Store
from ledgerline.server import compose_app
from lineage.auth.settings import AuthSettings
from tests.alerts.test_tickets import exception_of, jira_config, snow_config
from tests.alerts.ticket_servers import PASSWORD, USER, Fake, failure, fake, now_ms
from tests.lineage.auth.helpers import bearer, issue

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_TICKET_USER", USER)
    monkeypatch.setenv("TEST_TICKET_PASSWORD", PASSWORD)


def service(store: Store, config: str) -> AlertService:
    settings = AlertSettings(
        clickhouse_url=store.dsn,
        clickhouse_database=store.database,
        alert_receivers=config,
        dashboard_url="http://dash.test",
        api_url="http://api.test",
        alert_delivery_backoff_s=0.05,
    )
    return AlertService(settings, store)


@pytest.fixture
def snow() -> Iterator[Fake]:
    with fake("servicenow") as server:
        yield server


def _opened(store: Store, snow: Fake) -> tuple[AlertService, TestClient, str]:
    failure(store, "invoice:INV-1")
    alerts = service(store, snow_config(snow.url))
    alerts.run_once(now_ms())  # the alert service's round runs the tickets' round
    assert len(snow.records) == 1
    client = TestClient(compose_app(store, AuthSettings(), alerts))
    return alerts, client, exception_of(store, "invoice:INV-1")["id"]


def test_servicenow_resolved_resolves_the_exception_once(store: Store, snow: Fake) -> None:
    alerts, client, exc_id = _opened(store, snow)
    op = bearer(issue(store, "operator", "snow-integration"))
    url = "/api/v1/tickets/snow/events"
    with client:
        pending = client.post(url, json={"number": "INC0010001", "state": "2"}, headers=op)
        assert pending.status_code == 200 and pending.json() == {
            "exception_id": exc_id,
            "ticket": "INC0010001",
            "state": "open",
            "changed": False,
        }
        done = client.post(url, json={"number": "INC0010001", "state": "6"}, headers=op)
        assert done.status_code == 200 and done.json()["changed"] is True and done.json()["state"] == "resolved"
        again = client.post(url, json={"number": "INC0010001", "state": "6"}, headers=op)
        assert again.status_code == 200 and again.json()["changed"] is False
        by_sys_id = client.post(url, json={"sys_id": snow.records["INC0010001"]["sys_id"], "state": "7"}, headers=op)
        assert by_sys_id.status_code == 200 and by_sys_id.json()["changed"] is False
        shown = client.get(f"/api/v1/exceptions/{exc_id}", headers=op).json()
    assert shown["state"] == "resolved"
    assert shown["tickets"] == [{"receiver": "snow", "key": "INC0010001", "url": shown["tickets"][0]["url"]}]
    trail = [(h["action"], h["actor"], h["note"]) for h in shown["history"]]
    assert trail[1:] == [("resolve", "snow-integration", "[snow INC0010001] resolved in snow")]
    alerts.run_once(now_ms())  # the resolve came from the ticket: it is not sent back
    alerts.stop()
    assert snow.of("PATCH") == []


def test_webhook_auth_404_and_422(store: Store, snow: Fake) -> None:
    alerts, client, _ = _opened(store, snow)
    op = bearer(issue(store, "operator"))
    url = "/api/v1/tickets/snow/events"
    body = {"number": "INC0010001", "state": "6"}
    with client:
        assert client.post(url, json=body).status_code == 401
        assert client.post(url, json=body, headers=bearer(issue(store, "viewer"))).status_code == 403
        assert client.post(url, json=body, headers=bearer("not-a-token")).status_code == 401
        assert client.post(url, json={"number": "INC9999999", "state": "6"}, headers=op).status_code == 404
        assert client.post("/api/v1/tickets/nobody/events", json=body, headers=op).status_code == 404
        for bad in ({"number": "INC0010001"}, {"state": "6"}, [1, 2], "text", {"number": 5, "state": {"a": 1}}):
            answer = client.post(url, json=bad, headers=op)
            assert answer.status_code == 422, (bad, answer.text)
        raw = client.post(url, content=b"{not json", headers=op | {"Content-Type": "application/json"})
        assert raw.status_code == 422
        assert (
            client.get(f"/api/v1/exceptions/{exception_of(store, 'invoice:INV-1')['id']}", headers=op).json()["state"]
            == "open"
        )
    alerts.stop()


def test_webhook_scope_another_legal_entitys_ticket_is_404(store: Store, snow: Fake) -> None:
    """An operator scoped to FR01 cannot resolve DE01's exception through its ticket: 404, as
    for a ticket that does not exist, and the exception stays open."""
    alerts, client, exc_id = _opened(store, snow)
    other = bearer(issue(store, "operator", "fr-integration", legal_entities=["FR01"]))
    mine = bearer(issue(store, "operator", "de-integration", legal_entities=["DE01"]))
    url = "/api/v1/tickets/snow/events"
    body = {"number": "INC0010001", "state": "6"}
    with client:
        assert client.post(url, json=body, headers=other).status_code == 404
        assert client.get(f"/api/v1/exceptions/{exc_id}", headers=mine).json()["state"] == "open"
        assert client.post(url, json=body, headers=mine).json()["changed"] is True
    alerts.stop()


def test_jira_done_resolves_through_the_webhook_shape(store: Store) -> None:
    with fake("jira") as jira:
        failure(store, "invoice:INV-7")
        alerts = service(store, jira_config(jira.url, 3))
        alerts.run_once(now_ms())
        op = bearer(issue(store, "operator"))
        event: dict[str, Any] = {
            "webhookEvent": "jira:issue_updated",
            "issue": {"key": "OPS-1", "fields": {"status": {"name": "Done", "statusCategory": {"key": "done"}}}},
        }
        with TestClient(compose_app(store, AuthSettings(), alerts)) as client:
            answer = client.post("/api/v1/tickets/jira/events", json=event, headers=op)
            assert answer.status_code == 200 and answer.json()["changed"] is True
            assert (
                client.post("/api/v1/tickets/jira/events", json={"issue": {"key": "OPS-1"}}, headers=op).status_code
                == 422
            )
        alerts.stop()
    assert exception_of(store, "invoice:INV-7")["state"] == "resolved"


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ("receivers: [{name: j, type: jira, url: 'http://x'}]", "jira needs project"),
        (
            "receivers: [{name: h, type: webhook, url: 'http://x'}]\ntickets: [{receiver: h}]",
            "not a servicenow or jira receiver",
        ),
        (
            "receivers: [{name: s, type: servicenow, url: 'http://x'}]\nroute: {receiver: s}",
            "servicenow and jira receivers take tickets",
        ),
        (
            "receivers: [{name: s, type: servicenow, url: 'http://x', username_env: TEST_TICKET_USER}]",
            "username_env and password_env together",
        ),
        (
            "receivers: [{name: s, type: servicenow, url: 'http://x', token_env: NOT_SET_ANYWHERE}]",
            "NOT_SET_ANYWHERE is not set",
        ),
    ],
)
def test_bad_ticket_config_is_refused_with_the_line(config: str, problem: str) -> None:
    with pytest.raises(RuleError, match=problem):
        load_receivers(config)
