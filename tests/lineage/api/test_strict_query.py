"""A query parameter a route does not take is refused (422 naming it and the ones it takes), on
every ``/api/`` route: before, ``?legal_entitiy=DE01`` answered every entity's figures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from lineage.api.app import create_app
from tests.lineage.auth.helpers import bearer, issue
from tests.lineage.conftest import Shared


@pytest.fixture(scope="module")
def client(shared: Shared) -> Iterator[TestClient]:
    with TestClient(create_app(shared.lineage.settings, shared.store)) as c:
        c.headers.update(bearer(issue(shared.store, "admin", "root@corp.example")))
        yield c


def test_a_typo_in_a_filter_is_refused_not_dropped(client: TestClient) -> None:
    every = client.get("/api/v1/sla/breaches", params={"since": "24h"})
    de01 = client.get("/api/v1/sla/breaches", params={"since": "24h", "legal_entity": "DE01"})
    assert every.status_code == de01.status_code == 200
    assert len(de01.json()["breaches"]) < len(every.json()["breaches"])  # the filter filters
    typo = client.get("/api/v1/sla/breaches", params={"since": "24h", "legal_entitiy": "DE01"})
    assert typo.status_code == 422
    detail = typo.json()["detail"]
    assert detail.startswith("unknown query parameter 'legal_entitiy': this route takes ")
    assert {"legal_entity", "since", "region", "flow"} <= set(detail.rsplit("takes ", 1)[1].split(", "))


def test_every_api_route_refuses_an_undeclared_parameter(client: TestClient) -> None:
    checked = 0
    for path, operations in client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        if "{" in path or "get" not in operations:
            continue
        declared = {p["name"] for p in operations["get"].get("parameters", []) if p["in"] == "query"}
        answer = client.get(path, params={"zz_typo": "1"})
        assert answer.status_code == 422, (path, answer.text)
        takes = answer.json()["detail"].rsplit("takes ", 1)[1]
        assert set(takes.split(", ")) == declared or (takes == "none" and not declared), (path, takes)
        checked += 1
    assert checked >= 20
    # outside /api/ (health, metrics, the docs' assets) nothing changes
    assert client.get("/healthz", params={"zz_typo": "1"}).status_code == 200
