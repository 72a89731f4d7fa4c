"""What a scoped caller sees of the alerts (alerts/scoped.py): alerts are computed over the
whole store; a scoped caller sees those with an example in its scope, examples cut to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from alerts.model import Alert, State
from alerts.scoped import redact
from ledgerline.server import compose_app
from lineage.auth.settings import AuthSettings
from lineage.core.scope import EVERYTHING, Scope
from tests.alerts.helpers import rules_file, service
from tests.lineage.helpers import HOUR, now_ns
from tests.lineage.scope_world import World, serve
from tests.principals import PRINCIPALS, Principal, bearer, install

pytestmark = pytest.mark.timeout(180)

RULES = """
rules:
  - name: OpenExceptions
    kind: exceptions
    expr: {metric: size, threshold: 0, by: system}
    team: platform
    annotations: {summary: "open on {{ $labels.system }}: {{ $examples }}"}
  - name: ByCategory
    kind: exceptions
    expr: {metric: size, threshold: 0, by: category}
    team: platform
  - name: NoExamples
    kind: query
    team: platform
    query: "SELECT 'sap' AS system, 1.0 AS value"
"""


@pytest.fixture(scope="module")
def world(chdb_path: Path) -> Iterator[World]:
    yield from serve(chdb_path, EVERYTHING, now_ns() - 10 * HOUR)


@pytest.fixture
def client(world: World, tmp_path: Path) -> Iterator[TestClient]:
    svc = service(world.store, rules_file(tmp_path, RULES))
    svc.run_once(now_ns() // 1_000_000, force=True)
    app = compose_app(world.store, AuthSettings(), svc)
    names = PRINCIPALS | {"none": Principal("n@test.example", "viewer", Scope(("LE-9",)))}
    with TestClient(install(app, names)) as c:
        yield c
    svc.stop()


def _alerts(client: TestClient, who: str) -> dict[tuple[str, str], dict[str, str]]:
    body = client.get("/api/v1/alerts", headers=bearer(who)).json()
    return {(a["labels"]["alertname"], a["labels"].get("system", a["labels"].get("category", ""))): a["annotations"]
            for a in body["alerts"]}  # fmt: skip


def test_alert_examples_are_cut_to_the_scope(client: TestClient) -> None:
    everything = _alerts(client, "admin")
    sap = everything[("OpenExceptions", "sap")]
    assert sap["correlation_ids"] == "S-A3, S-B3" and sap["summary"] == "open on sap: S-A3, S-B3"
    assert everything[("ByCategory", "tax_error")]["correlation_ids"] == "S-B3, S-D"
    assert set(everything) == {
        ("OpenExceptions", "sap"),
        ("OpenExceptions", "credit-svc"),  # S-D's dead-lettered credit (LE-2)
        ("ByCategory", "timeout"),
        ("ByCategory", "tax_error"),
        ("NoExamples", "sap"),
    }
    # S-D is a transaction of both legal entities (LE-1's case, LE-2's credit): an example
    # in scope for either. S-A3 is LE-1's only, S-B3 LE-2's only.
    sd = {"correlation_ids": "S-D", "summary": "open on credit-svc: S-D"}
    assert _alerts(client, "le1") == {
        ("OpenExceptions", "sap"): {"correlation_ids": "S-A3", "summary": "open on sap: S-A3"},
        ("OpenExceptions", "credit-svc"): sd,
        ("ByCategory", "timeout"): {"correlation_ids": "S-A3"},
        ("ByCategory", "tax_error"): {"correlation_ids": "S-D"},
    }
    assert _alerts(client, "le2") == {
        ("OpenExceptions", "sap"): {"correlation_ids": "S-B3", "summary": "open on sap: S-B3"},
        ("OpenExceptions", "credit-svc"): sd,
        ("ByCategory", "tax_error"): {"correlation_ids": "S-B3, S-D"},
    }
    # No example in scope, or no examples at all: hidden.
    assert _alerts(client, "none") == {}
    body = client.get("/api/v1/alerts", headers=bearer("none")).json()
    assert {r["name"] for r in body["rules"]} == {"OpenExceptions", "ByCategory", "NoExamples"}


def test_unauthenticated_alerts_are_refused(world: World, tmp_path: Path) -> None:
    svc = service(world.store, rules_file(tmp_path, RULES))
    with TestClient(compose_app(world.store, AuthSettings(), svc)) as c:
        assert c.get("/api/v1/alerts").status_code == 401
    svc.stop()


def _alert(notes: dict[str, str]) -> Alert:
    return Alert("R", "f", {"alertname": "R"}, State.FIRING, annotations=notes)


@pytest.mark.parametrize(
    ("notes", "allowed", "expected"),
    [
        ({"correlation_ids": "A, B", "summary": "x A, B"}, {"A"}, {"correlation_ids": "A", "summary": "x A"}),
        ({"correlation_ids": "A, B"}, {"A", "B"}, {"correlation_ids": "A, B"}),
        # A rendering that is not the whole list cannot be cut safely: dropped.
        ({"correlation_ids": "A, B", "first": "see B"}, {"A"}, {"correlation_ids": "A"}),
        ({"correlation_ids": "A, B"}, set(), None),
        ({"summary": "no examples"}, {"A"}, None),
    ],
)
def test_redact(notes: dict[str, str], allowed: set[str], expected: Any) -> None:
    out = redact(_alert(notes), allowed)
    assert (out.annotations if out else None) == expected
