"""Identity in the record: the actor of a write is the credential's subject, silences get
server IDs and their author from the caller, and the access log records who did what."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from alerts.service import AlertService
from lineage.auth.settings import AuthSettings
from tests.alerts.helpers import rules_file, service
from tests.lineage.auth.helpers import bearer, issue
from tests.lineage.conftest import Shared

pytestmark = pytest.mark.timeout(120)

SILENCE = {
    "matchers": [{"name": "system", "value": "sap"}],
    "startsAt": "2026-01-01T00:00:00Z",
    "endsAt": "2099-01-01T00:00:00Z",
    "comment": "maintenance",
}


@pytest.fixture(scope="module")
def api(shared: Shared, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, AlertService]]:
    from ledgerline.server import compose_app

    alerts = service(shared.store, rules_file(Path(tmp_path_factory.mktemp("r")), "rules: []"))
    with TestClient(compose_app(shared.store, AuthSettings(access_log_flush_s=0.05), alerts)) as client:
        yield client, alerts
    alerts.stop()


def test_the_body_actor_is_ignored(api: tuple[TestClient, AlertService], shared: Shared) -> None:
    client = api[0]
    ops = bearer(issue(shared.store, "operator", "olga@corp.example"))
    [exc] = client.get("/api/v1/exceptions", params={"state": "open"}, headers=ops).json()["exceptions"]
    done = client.post(
        f"/api/v1/exceptions/{exc['id']}/ack", json={"actor": "cfo@company.example", "note": "n"}, headers=ops
    )
    assert done.status_code == 200
    assert done.json()["history"][-1]["actor"] == "olga@corp.example"
    assert client.post(f"/api/v1/exceptions/{exc['id']}/resolve", json={}, headers=ops).status_code == 200
    stored = shared.store.query(
        "SELECT Actor FROM exception_actions WHERE ExceptionId = {id:String} ORDER BY At", {"id": exc["id"]}
    )
    assert {r[0] for r in stored} == {"olga@corp.example"}


def test_silences_get_server_ids_and_their_author(api: tuple[TestClient, AlertService], shared: Shared) -> None:
    client = api[0]
    ops = bearer(issue(shared.store, "operator", "Omar@Corp.Example"))  # stored and recorded in normal form
    created = client.post("/api/v1/silences", json=SILENCE | {"createdBy": "someone-else"}, headers=ops)
    assert created.status_code == 201
    sid = created.json()["silenceID"]
    again = client.post("/api/v1/silences", json=SILENCE | {"id": sid, "comment": "hijack"}, headers=ops)
    assert again.status_code == 422 and "assigned by the server" in again.json()["detail"]
    [listed] = [s for s in client.get("/api/v1/silences", headers=ops).json() if s["id"] == sid]
    assert listed["createdBy"] == "omar@corp.example" and listed["comment"] == "maintenance"
    viewer = bearer(issue(shared.store, "viewer"))
    assert client.post("/api/v1/silences", json=SILENCE, headers=viewer).status_code == 403
    assert client.delete(f"/api/v1/silences/{sid}", headers=ops).status_code == 200


def test_the_access_log_records_reads_writes_and_denials(api: tuple[TestClient, AlertService], shared: Shared) -> None:
    client = api[0]
    viewer = bearer(issue(shared.store, "viewer", "vic@corp.example"))
    auditor = bearer(issue(shared.store, "auditor", "aud@corp.example"))
    assert client.get("/api/v1/transactions/C-OK", headers=viewer).status_code == 200
    assert client.get("/api/v1/entities/invoice/INV-OK", headers=viewer).status_code == 200
    assert client.get("/api/v1/transactions", headers=viewer).status_code == 200  # a listing: not logged
    assert client.post("/api/v1/silences", json=SILENCE, headers=viewer).status_code == 403
    assert client.get("/api/v1/audit-log", headers=viewer).status_code == 403
    log = client.get("/api/v1/audit-log", params={"subject": "vic@corp.example"}, headers=auditor).json()
    got = [(e["action"], e["target"], e["status"], e["role"], e["client"]) for e in reversed(log["entries"])]
    assert got == [
        ("transaction.read", "C-OK", 200, "viewer", "testclient"),
        ("entity.read", "invoice:INV-OK", 200, "viewer", "testclient"),
        ("silence.create", "", 403, "viewer", "testclient"),
        ("audit_log.read", "", 403, "viewer", "testclient"),
    ]
    assert log["truncated"] is False
    limited = client.get("/api/v1/audit-log", params={"action": "transaction.read", "limit": 1}, headers=auditor)
    assert len(limited.json()["entries"]) == 1
    assert client.get("/api/v1/audit-log", params={"since": "soon"}, headers=auditor).status_code == 422

    # until: exclusive, ISO-8601 or a duration ago; before since is 422.
    def vic_until(until: str) -> list[str]:
        params = {"subject": "vic@corp.example", "until": until}
        answer = client.get("/api/v1/audit-log", params=params, headers=auditor)
        assert answer.status_code == 200, answer.text
        return [e["action"] for e in reversed(answer.json()["entries"])]

    chronological = list(reversed(log["entries"]))
    cut = chronological[2]["at"]  # the denied silence.create
    before = [e["action"] for e in chronological if e["at"] < cut]
    assert vic_until(cut) == before and before[0] == "transaction.read" and "silence.create" not in before
    assert vic_until("2099-01-01T00:00:00Z") == [g[0] for g in got]
    assert vic_until("1h") == []  # an hour ago: before any of these calls
    assert client.get("/api/v1/audit-log", params={"since": "1h", "until": "2h"}, headers=auditor).status_code == 422


def test_a_clean_stop_writes_every_queued_entry(shared: Shared) -> None:
    from lineage.api.app import create_app

    # A flush interval far beyond the test: only the stop can write the entry.
    app = create_app(shared.lineage.settings, shared.store, AuthSettings(access_log_flush_s=60))
    token = issue(shared.store, "viewer", "stop@corp.example")
    with TestClient(app) as client:
        assert client.get("/api/v1/transactions/C-B0", headers=bearer(token)).status_code == 200
    rows = shared.store.query(
        "SELECT Action, Target FROM access_log WHERE Subject = {s:String}", {"s": "stop@corp.example"}
    )
    assert [tuple(r) for r in rows] == [("transaction.read", "C-B0")]
