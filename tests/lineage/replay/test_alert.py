"""The packaged ``ReplayFailedOrUnconfirmed`` alert over real replays: its examples are the
replays' correlation IDs, so scoped callers see it for their transactions only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from fastapi.testclient import TestClient

from alerts.kinds import run_rule
from alerts.rules import DEFAULT_RULES, load_rules
from ledgerline.server import compose_app
from lineage.auth.settings import AuthSettings
from lineage.core.flows import load_flows
from lineage.core.timeparse import to_ms, utcnow
from tests.alerts.helpers import rules_file, service
from tests.lineage.replay.conftest import Env
from tests.principals import ADMIN, LE1, LE2, bearer, install

RULE = "ReplayFailedOrUnconfirmed"
HOUR_MS = 3600_000


def _packaged_rule_only(tmp_path: Path) -> Path:
    """A rule file holding just the packaged replay rule, unchanged."""
    doc = yaml.safe_load(DEFAULT_RULES.read_text())
    [rule] = [r for r in doc["rules"] if r["name"] == RULE]
    return Path(rules_file(tmp_path, yaml.safe_dump({"rules": [rule]})))


def _delivered(env: Env) -> dict[str, Any]:
    replay: dict[str, Any] = env.client.post(
        f"/api/v1/exceptions/{env.ids['C-ERP-1']}/replay", json={"reason": "ERP back up"}
    ).json()
    assert env.worker.run_once() == (1, 0)
    assert env.client.get(f"/api/v1/replays/{replay['id']}").json()["state"] == "delivered"
    return replay


def test_unconfirmed_for_an_hour_fires_with_the_correlation_id(env: Env) -> None:
    _delivered(env)
    [rule] = [r for r in load_rules() if r.name == RULE]
    now = to_ms(utcnow())
    assert run_rule(env.store, rule, now, flows=load_flows(), timeout_s=10) == []  # delivered just now
    [sample] = run_rule(env.store, rule, now + 2 * HOUR_MS, flows=load_flows(), timeout_s=10)
    assert sample.labels == {"system": "erp", "state": "delivered"}
    assert (sample.value, sample.examples) == (1.0, ("C-ERP-1",))


def test_scoped_operator_sees_the_replay_alert_of_its_transactions(env: Env, tmp_path: Path) -> None:
    replay = _delivered(env)
    svc = service(env.store, _packaged_rule_only(tmp_path))
    svc.run_once(to_ms(utcnow()) + 2 * HOUR_MS, force=True)  # an hour and more without the retried hop
    app = compose_app(env.store, AuthSettings(), svc)
    try:
        with TestClient(install(app, {"admin": ADMIN, "le1": LE1, "le2": LE2})) as client:

            def alerts(who: str) -> list[dict[str, Any]]:
                answer = client.get("/api/v1/alerts", headers=bearer(who))
                assert answer.status_code == 200, answer.text
                return [a for a in answer.json()["alerts"] if a["labels"]["alertname"] == RULE]

            [everything] = alerts("admin")
            [mine] = alerts("le1")  # C-ERP-1's hops are LE-1's
            assert mine["labels"] == everything["labels"]
            assert mine["labels"]["state"] == "delivered"
            assert mine["annotations"]["correlation_ids"] == "C-ERP-1"
            assert "C-ERP-1" in mine["annotations"]["description"]
            assert alerts("le2") == []  # not one of LE-2's transactions
            # The replay id is one step away: the transaction lists its replays.
            txn = client.get("/api/v1/transactions/C-ERP-1", headers=bearer("le1")).json()
            assert [r["id"] for r in txn["replays"]] == [replay["id"]]
    finally:
        app.state.replay_worker.stop()
        svc.stop()
