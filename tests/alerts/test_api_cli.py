"""The alerts HTTP API (mounted on a FastAPI app) and the CLI's check mode."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from alerts import cli
from collector.store import Store
from lineage.auth.settings import AuthSettings
from tests.alerts.helpers import T0, rules_file, service
from tests.lineage.auth.helpers import bearer, issue

pytestmark = pytest.mark.timeout(120)

RULES = """
rules:
  - {name: Flag, kind: query, team: platform, query: "SELECT 'sap' AS system, 1.0 AS value"}
"""


def test_alerts_and_silences_api(store: Store, tmp_path: Path) -> None:
    svc = service(store, rules_file(tmp_path, RULES))
    svc.run_once(T0)
    from ledgerline.server import compose_app

    with TestClient(compose_app(store, AuthSettings(), svc)) as client:
        client.headers.update(bearer(issue(store, "operator", "ops@corp.example")))
        body = client.get("/api/v1/alerts").json()
        [alert] = body["alerts"]
        assert alert["labels"]["system"] == "sap" and alert["state"] == "firing"
        assert body["rules"] == [
            {"name": "Flag", "health": "ok", "lastError": "", "lastEvaluation": "2026-05-28T20:26:40.000Z"}
        ]
        silence = {
            "matchers": [{"name": "system", "value": "sap"}],
            "startsAt": "2026-01-01T00:00:00Z",
            "endsAt": "2099-01-01T00:00:00Z",
            "comment": "maintenance",
        }
        created = client.post("/api/v1/silences", json=silence)
        assert created.status_code == 201
        sid = created.json()["silenceID"]
        [listed] = client.get("/api/v1/silences").json()
        assert (
            listed["id"] == sid and listed["status"]["state"] == "active" and listed["createdBy"] == "ops@corp.example"
        )
        assert client.get("/api/v1/alerts").json()["alerts"][0]["status"] == {
            "state": "suppressed",
            "silencedBy": [sid],
        }
        bad = client.post("/api/v1/silences", json=silence | {"endsAt": "2025-01-01T00:00:00Z"})
        assert bad.status_code == 422
        assert client.delete(f"/api/v1/silences/{sid}").status_code == 200
        assert client.get("/api/v1/silences").json() == []
        assert client.delete(f"/api/v1/silences/{sid}").status_code == 404
    svc.stop()


def test_cli_check_validates_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["alerts", "--check"])
    assert args.func(args) == 0 and "rules" in capsys.readouterr().out
    bad = rules_file(tmp_path, "rules: [{name: X, kind: stuck, team: platform, expr: {older_than: soon}}]")
    args = parser.parse_args(["alerts", "--check", "--rules", str(bad)])
    assert args.func(args) == 2 and "rule 'X': expr.older_than" in capsys.readouterr().err
