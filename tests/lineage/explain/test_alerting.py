"""Alerts carry "why?": an instance that starts firing gets the top findings of its subject in
its ``why`` annotation, computed once and kept while it fires, and every receiver's body shows
it (here a webhook on loopback and the Slack text)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alerts.model import State
from alerts.notify import slack
from alerts.service import AlertService
from alerts.settings import AlertSettings
from lineage.explain.summary import why_text
from tests.alerts.helpers import recorder, rules_file, webhook_receivers
from tests.lineage.explain.planted import World

RULES = """
rules:
  - name: PostingsFailing
    kind: exceptions
    expr: {metric: size, threshold: 5, by: system}
    severity: warning
    team: finance-ops
    annotations: {summary: "{{ $value }} open exceptions on {{ $labels.system }}"}
"""


def test_a_firing_alert_says_why_once_and_keeps_it(world: World, tmp_path: Path) -> None:
    calls: list[dict[str, Any]] = []

    def why(rule: Any, labels: Any, now_ms: int) -> str:
        calls.append(dict(labels))
        return why_text(world.lineage, rule.kind, rule.expr, labels, now_ms)

    now = world.outage.window().until_ms + 60_000  # just after the outage window
    with recorder() as rec:
        settings = AlertSettings(
            clickhouse_url=world.store.dsn,
            clickhouse_database=world.store.database,
            alert_rules=rules_file(tmp_path, RULES),
            alert_receivers=webhook_receivers(rec.url),
            alert_delivery_attempts=2,
            alert_delivery_backoff_s=0.05,
        )
        alerts = AlertService(settings, world.store, why=why)
        alerts.run_once(now)
        firing = [a for a in alerts.evaluator.alerts["PostingsFailing"].values() if a.state == State.FIRING]
        erp = next(a for a in firing if a.labels["system"] == "erp")
        assert erp.annotations["why"].startswith("region=amer ("), erp.annotations["why"]
        assert "GBP" in erp.annotations["why"]
        assert len(calls) == len(firing)  # once per instance that started firing
        body = next(b for path, b in rec.bodies if path == "/hook")
        sent = next(a for a in body["alerts"] if a["labels"]["system"] == "erp")
        assert sent["annotations"]["why"] == erp.annotations["why"]
        assert "Why: region=amer" in slack({}, [erp])["text"]
        alerts.run_once(now + 60_000)  # still firing: kept, not computed again
        again = alerts.evaluator.alerts["PostingsFailing"][erp.fingerprint]
        assert again.annotations["why"] == erp.annotations["why"] and len(calls) == len(firing)
