"""Tickets for the exception backlog against loopback ServiceNow and Jira fakes: the published
request shapes, the rule conditions, failures (429 with Retry-After, 5xx, connection refused)
retried from the outbox on later rounds, and a restart in the middle that neither loses nor
duplicates a ticket. Rounds run on a fake clock (no sleeping)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from alerts.routing import load_receivers
from alerts.tickets.service import Tickets
from collector.store import Store
from lineage.core.flows import load_flows
from lineage.core.scope import Scope
from lineage.core.service import Lineage
from lineage.core.window import Window
from lineage.settings import LineageSettings
from tests.alerts.ticket_servers import BASIC, PASSWORD, USER, Fake, failure, fake, now_ms

pytestmark = pytest.mark.timeout(120)
SEC = 1000


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_TICKET_USER", USER)
    monkeypatch.setenv("TEST_TICKET_PASSWORD", PASSWORD)


def snow_config(url: str, rule: str = "{receiver: snow}") -> str:
    return f"""
receivers:
  - name: snow
    type: servicenow
    url: "{url}"
    username_env: TEST_TICKET_USER
    password_env: TEST_TICKET_PASSWORD
    fields: {{assignment_group: finance-ops}}
tickets: [{rule}]
"""


def jira_config(url: str, version: int) -> str:
    return f"""
receivers:
  - {{name: jira, type: jira, url: "{url}", api_version: {version}, project: OPS, issue_type: Incident,
     username_env: TEST_TICKET_USER, password_env: TEST_TICKET_PASSWORD}}
tickets: [{{receiver: jira, categories: [posting_period_closed]}}]
"""


def tickets(store: Store, config: str) -> Tickets:
    return Tickets(
        store,
        load_receivers(config),
        load_flows(),
        dashboard_url="http://dash.test",
        api_url="http://api.test",
        link=lambda p: f"/?page={p['page']}&correlation_id={p['correlation_id']}",
        backoff_s=10,
        timeout_s=2,
    )


def lineage(store: Store) -> Lineage:
    settings = LineageSettings(clickhouse_url=store.dsn, clickhouse_database=store.database)
    return Lineage(settings, store, load_flows())


def exception_of(store: Store, entity: str) -> dict[str, Any]:
    window = Window(now_ms() - 86_400_000, now_ms() + 60_000, 1000)
    doc = lineage(store).exceptions(Scope(), window, "", "", "")
    found = [e for e in doc["exceptions"] if e["business_key"] == entity]
    assert len(found) == 1, doc
    full = lineage(store).exception(Scope(), found[0]["id"], now_ms() - 86_400_000)
    assert full is not None
    return full


@pytest.fixture
def snow() -> Iterator[Fake]:
    with fake("servicenow") as server:
        yield server


def test_servicenow_incident_in_the_table_api_shape_once(store: Store, snow: Fake) -> None:
    failure(store, "invoice:INV-1", amount=1500.0)
    t = tickets(store, snow_config(snow.url))
    now = now_ms()
    t.run(now)
    t.run(now + SEC)  # nothing new: no second incident
    t.close()
    [post] = snow.of("POST")
    assert post.path == "/api/now/table/incident" and post.headers["Authorization"] == BASIC
    body = post.body
    assert body["short_description"].startswith("[ledgerline] posting_period_closed at sap: invoice:INV-1")
    assert "Money: 1,500.00 EUR" in body["description"]
    assert "Lineage in ledgerline: http://dash.test/?page=lineage&correlation_id=C-INV-1" in body["description"]
    assert "Evidence pack: http://api.test/api/v1/transactions/C-INV-1/evidence" in body["description"]
    assert body["assignment_group"] == "finance-ops"
    exc = exception_of(store, "invoice:INV-1")
    assert body["correlation_id"] == f"ledgerline-{exc['id']}"
    [ticket] = exc["tickets"]
    assert ticket["receiver"] == "snow" and ticket["key"] == "INC0010001"
    assert ticket["url"] == f"{snow.url}/nav_to.do?uri=incident.do%3Fsys_id%3D{'1':0>32}"
    trail = [(h["action"], h["actor"]) for h in exc["history"]]
    assert trail == [("ticket_opened", "snow")] and exc["history"][0]["note"].startswith("INC0010001 ")


@pytest.mark.parametrize(
    ("rule", "opened"),
    [
        ("{receiver: snow, categories: [posting_period_closed]}", {"INV-1", "INV-4"}),
        ("{receiver: snow, min_amount: 1000}", {"INV-1", "INV-2"}),
        ("{receiver: snow, min_amount: 1000, currency: EUR}", {"INV-1"}),
        ("{receiver: snow, legal_entities: [FR01]}", {"INV-3"}),
    ],
)
def test_rules_choose_by_category_amount_and_legal_entity(
    store: Store, snow: Fake, rule: str, opened: set[str]
) -> None:
    failure(store, "invoice:INV-1", amount=1500.0)
    failure(store, "invoice:INV-2", amount=2000.0, currency="USD", category="tax_code_invalid")
    failure(store, "invoice:INV-3", amount=10.0, legal_entity="FR01", category="tax_code_invalid")
    failure(store, "invoice:INV-4", amount=None)  # amount unknown: never "over a threshold"
    t = tickets(store, snow_config(snow.url, rule))
    t.run(now_ms())
    t.close()
    assert {p.body["short_description"].split("invoice:")[1].split(" ")[0] for p in snow.of("POST")} == opened


def test_acknowledge_and_resolve_in_ledgerline_reach_the_incident(store: Store, snow: Fake) -> None:
    failure(store, "invoice:INV-1")
    t = tickets(store, snow_config(snow.url))
    now = now_ms()
    t.run(now)
    exc = exception_of(store, "invoice:INV-1")
    since = now - 86_400_000
    lineage(store).act(Scope(), exc["id"], "ack", "ana@corp.example", "looking", since)
    t.run(now_ms())
    lineage(store).act(Scope(), exc["id"], "resolve", "ana@corp.example", "period reopened", since)
    t.run(now_ms())
    t.run(now_ms())  # nothing twice
    t.close()
    sys_id = snow.records["INC0010001"]["sys_id"]
    patches = [(p.path, p.body) for p in snow.of("PATCH")]
    assert patches == [
        (
            f"/api/now/table/incident/{sys_id}",
            {"work_notes": "acknowledged in ledgerline by ana@corp.example: looking"},
        ),
        (
            f"/api/now/table/incident/{sys_id}",
            {
                "state": "6",
                "close_code": "Solution provided",
                "close_notes": "resolved in ledgerline by ana@corp.example: period reopened",
            },
        ),
    ]
    assert snow.records["INC0010001"]["state"] == "6"


@pytest.mark.parametrize("version", [2, 3])
def test_jira_issue_comment_and_transition_in_the_rest_shapes(store: Store, version: int) -> None:
    with fake("jira") as jira:
        failure(store, "invoice:INV-9", amount=250.5)
        failure(store, "invoice:INV-8", category="other")  # not the rule's category
        t = tickets(store, jira_config(jira.url, version))
        t.run(now_ms())
        exc = exception_of(store, "invoice:INV-9")
        since = now_ms() - 86_400_000
        lineage(store).act(Scope(), exc["id"], "ack", "ana@corp.example", "", since)
        t.run(now_ms())
        lineage(store).act(Scope(), exc["id"], "resolve", "ana@corp.example", "fixed", since)
        t.run(now_ms())
        t.close()
    [create] = [r for r in jira.of("POST") if r.path.endswith("/issue")]
    assert create.path == f"/rest/api/{version}/issue" and create.headers["Authorization"] == BASIC
    fields = create.body["fields"]
    assert fields["project"] == {"key": "OPS"} and fields["issuetype"] == {"name": "Incident"}
    assert fields["summary"].startswith("[ledgerline] posting_period_closed at sap: invoice:INV-9")
    assert fields["labels"] == ["ledgerline", f"ledgerline-{exc['id']}"]
    if version == 2:
        assert "Money: 250.50 EUR" in fields["description"]
    else:  # Atlassian Document Format: paragraphs, links as link marks
        doc = fields["description"]
        assert doc["type"] == "doc" and doc["version"] == 1
        texts = [p["content"][0] for p in doc["content"]]
        assert {"type": "text", "text": "Money: 250.50 EUR"} in texts
        evidence = next(t for t in texts if t["text"] == "Evidence pack")
        assert evidence["marks"] == [
            {"type": "link", "attrs": {"href": "http://api.test/api/v1/transactions/C-INV-9/evidence"}}
        ]
    issue = jira.records["OPS-1"]
    ack_text = "acknowledged in ledgerline by ana@corp.example"
    expected_ack = (
        ack_text
        if version == 2
        else {
            "type": "doc",
            "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": ack_text}]}],
        }
    )
    assert issue["comments"][0] == expected_ack and issue["done"]
    paths = [(r.method, r.path) for r in jira.requests]
    assert paths[-2:] == [
        ("GET", f"/rest/api/{version}/issue/OPS-1/transitions"),
        ("POST", f"/rest/api/{version}/issue/OPS-1/transitions"),
    ]
    assert jira.requests[-1].body["transition"] == {"id": "31"}
    assert exception_of(store, "invoice:INV-9")["tickets"][0]["url"] == f"{jira.url}/browse/OPS-1"


def test_429_waits_its_retry_after_then_opens_once(store: Store, snow: Fake) -> None:
    failure(store, "invoice:INV-1")
    snow.script = [(429, {"Retry-After": "120"})]
    t = tickets(store, snow_config(snow.url))
    now = now_ms()
    t.run(now)
    [entry] = t.outbox.entries()
    assert (entry.state, entry.attempts, entry.next_at) == ("pending", 1, now + 120 * SEC)
    assert "HTTP 429" in entry.last_error
    t.run(now + 60 * SEC)  # before the Retry-After: nothing goes out
    assert len(snow.requests) == 1
    t.run(now + 120 * SEC)
    t.close()
    assert [r.method for r in snow.requests] == ["POST", "GET", "POST"]  # the retry looks before it opens
    assert len(snow.records) == 1 and t.outbox.entries()[0].state == "done"
    tries = {
        tuple(s.labels.values()): s.value
        for m in t.metrics.tickets.collect()
        for s in m.samples
        if s.name.endswith("_total")
    }
    assert tries == {("snow", "create", "retry"): 1.0, ("snow", "create", "done"): 1.0}


def test_5xx_is_retried_with_growing_backoff(store: Store, snow: Fake) -> None:
    failure(store, "invoice:INV-1")
    snow.script = [(503, {}), (502, {})]
    t = tickets(store, snow_config(snow.url))
    now = now_ms()
    t.run(now)
    assert t.outbox.entries()[0].next_at == now + 10 * SEC  # the backoff, 10s
    t.run(now + 10 * SEC)  # 502 on the lookup
    assert t.outbox.entries()[0].next_at == now + 30 * SEC  # doubled: 10 + 20
    t.run(now + 29 * SEC)
    assert len(snow.requests) == 2
    t.run(now + 30 * SEC)
    t.close()
    assert len(snow.records) == 1 and t.outbox.entries()[0].state == "done"


def test_a_4xx_refusal_is_not_retried(store: Store, snow: Fake) -> None:
    failure(store, "invoice:INV-1")
    snow.script = [(400, {})]
    t = tickets(store, snow_config(snow.url))
    now = now_ms()
    t.run(now)
    t.run(now + 3600 * SEC)
    t.close()
    [entry] = t.outbox.entries()
    assert entry.state == "failed" and "HTTP 400" in entry.last_error and len(snow.requests) == 1


def test_restart_after_a_lost_answer_neither_loses_nor_duplicates(store: Store, snow: Fake) -> None:
    """The incident is opened but its answer is lost; the process restarts: the new one finds the
    incident by its mark and records it, and opens no second one."""
    failure(store, "invoice:INV-1")
    failure(store, "invoice:INV-2")
    snow.lose_answers = 1
    first = tickets(store, snow_config(snow.url))
    now = now_ms()
    first.run(now)
    first.close()  # the process goes away
    assert len(snow.records) == 2
    second = tickets(store, snow_config(snow.url))  # a new process on the same store
    second.run(now + 3600 * SEC)
    second.run(now + 7200 * SEC)
    second.close()
    assert len(snow.records) == 2 and len(snow.of("POST")) == 2
    assert {e.state for e in second.outbox.entries()} == {"done"}
    keys = {exception_of(store, f"invoice:INV-{n}")["tickets"][0]["key"] for n in (1, 2)}
    assert keys == {"INC0010001", "INC0010002"}


def test_connection_refused_then_restart_delivers_once(store: Store) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    failure(store, "invoice:INV-1")
    url = f"http://127.0.0.1:{port}"
    first = tickets(store, snow_config(url))
    now = now_ms()
    first.run(now)  # nobody listens
    first.close()
    [entry] = first.outbox.entries()
    assert entry.state == "pending" and "ConnectError" in entry.last_error
    with fake("servicenow", port) as snow:
        second = tickets(store, snow_config(url))
        second.run(now + 3600 * SEC)
        second.run(now + 7200 * SEC)
        second.close()
    assert len(snow.records) == 1 and [r.method for r in snow.requests] == ["GET", "POST"]


def test_an_acknowledgement_made_while_the_open_waits_reaches_the_ticket(store: Store, snow: Fake) -> None:
    failure(store, "invoice:INV-1")
    snow.script = [(503, {})]
    t = tickets(store, snow_config(snow.url))
    now = now_ms()
    t.run(now)  # the open waits for its retry
    exc_id = t.outbox.entries()[0].exception_id
    lineage(store).act(Scope(), exc_id, "ack", "ana@corp.example", "on it", now - 86_400_000)
    t.run(now + 10 * SEC)  # opened
    t.run(now + 11 * SEC)  # the acknowledgement, mirrored
    t.close()
    assert [p.body for p in snow.of("PATCH")] == [
        {"work_notes": "acknowledged in ledgerline by ana@corp.example: on it"}
    ]


@pytest.mark.parametrize("version", [2, 3])
def test_jira_open_after_a_lost_answer_finds_its_issue(store: Store, version: int) -> None:
    with fake("jira") as jira:
        failure(store, "invoice:INV-5")
        jira.lose_answers = 1
        t = tickets(store, jira_config(jira.url, version))
        now = now_ms()
        t.run(now)
        t.run(now + 10 * SEC)
        t.close()
    assert len(jira.records) == 1 and [e.state for e in t.outbox.entries()] == ["done"]
    # v3's enhanced search answers ids only: the key is read from the issue
    expected = ["/rest/api/3/search/jql", "/rest/api/3/issue/10001"] if version == 3 else ["/rest/api/2/search"]
    assert [r.path for r in jira.of("GET")] == expected
    assert exception_of(store, "invoice:INV-5")["tickets"][0]["key"] == "OPS-1"
