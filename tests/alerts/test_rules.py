"""Rule loading and validation, fingerprints, templating and burn-rate factors."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.burnrate import burn_factor
from alerts.errors import RuleError
from alerts.model import fingerprint, render
from alerts.routing import load_receivers
from alerts.rules import GOOGLE_WINDOWS, load_rules, parse_rules

DAY = 86400.0


def test_default_rules_load_and_cover_every_kind() -> None:
    rules = load_rules()
    assert {r.kind for r in rules} >= {
        "posting_latency",
        "exceptions",
        "sla_breach",
        "stuck",
        "silent_system",
        "slo_burn",
    }
    assert {r.team for r in rules} == {"support-ops", "finance-ops", "platform"}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"name": "X", "kind": "stuck", "team": "platform", "expr": {"older_than": "soon"}},
            "rule 'X': expr.older_than",
        ),
        ({"name": "X", "kind": "stuck", "team": "nobody", "expr": {"older_than": "1h"}}, "rule 'X': team"),
        (
            {
                "name": "X",
                "kind": "query",
                "team": "platform",
                "query": "SELECT 1 AS value",
                "labels": {"v": "{{ $value }}"},
            },
            "rule 'X': labels",
        ),
        ({"name": "X", "kind": "query", "team": "platform"}, "kind 'query' needs a 'query'"),
        (
            {"name": "X", "kind": "posting_latency", "team": "platform", "expr": {"threshold": "1h", "quantile": 2}},
            "rule 'X': expr.quantile",
        ),
        (
            {"name": "X", "kind": "stuck", "team": "platform", "expr": {"older_than": "1h"}, "for": "1x"},
            "rule 'X': for",
        ),
    ],
)
def test_invalid_rules_name_rule_and_field(rule: dict, message: str) -> None:
    with pytest.raises(RuleError, match=message.replace("(", r"\(").replace("$", r"\$")):
        parse_rules({"rules": [rule]})


def test_burn_rate_factors_come_from_the_objective_period() -> None:
    windows = GOOGLE_WINDOWS["page"] + GOOGLE_WINDOWS["ticket"]
    assert [burn_factor(w.budget_percent, 30 * DAY, w.long) for w in windows] == [14.4, 6.0, 1.0]
    assert burn_factor(2, 28 * DAY, 3600) == pytest.approx(13.44)


def test_fingerprint_matches_alertmanager() -> None:
    # Vectors of prometheus/common model/signature_test.go.
    assert int(fingerprint({}), 16) == 14695981039346656037
    assert int(fingerprint({"name": "garland, briggs", "fear": "love is not enough"}), 16) == 5799056148416392346


def test_templates_expand_labels_value_and_examples() -> None:
    text = render(
        "{{ $labels.system }} {{ $value | humanizeDuration }} {{ $examples }} {{$value}}",
        {"system": "sap"},
        5400.0,
        ("C1", "C2"),
    )
    assert text == "sap 1h30m C1, C2 5400"


def test_receivers_route_by_team_and_round_repeat_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_URL", "http://slack.test/hook")
    cfg = load_receivers("""
receivers:
  - {name: a, type: webhook, url: "http://a"}
  - {name: fin, type: slack, url_env: SLACK_URL}
route:
  receiver: a
  group_interval: 5m
  repeat_interval: 7m
  routes:
    - {matchers: {team: finance-ops}, receiver: fin}
""")
    [fin] = cfg.policies({"team": "finance-ops"})
    assert fin.receiver == "fin" and fin.repeat_interval_ms == 10 * 60_000
    assert [p.receiver for p in cfg.policies({"team": "platform"})] == ["a"]
    with pytest.raises(RuleError, match="unknown receiver"):
        load_receivers("receivers: []\nroute: {receiver: nope}")


def test_receiver_errors_name_the_line_and_missing_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_SLACK_URL", raising=False)
    path = tmp_path / "receivers.yaml"
    path.write_text("receivers:\n  - {name: a, type: webhook, url: http://a}\n  - {name: b, type: smoke}\n")
    with pytest.raises(RuleError, match=rf"^{path}, line 3: receivers.1.type: Input should be"):
        load_receivers(str(path))
    with pytest.raises(RuleError, match=r"line 2: .*NO_SUCH_SLACK_URL is not set"):
        load_receivers("receivers:\n  - {name: s, type: slack, url_env: NO_SUCH_SLACK_URL}\n")


def test_rule_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    ok = "  - name: Ok\n    kind: stuck\n    team: platform\n    expr: {older_than: 1h}\n"
    path.write_text(f"rules:\n{ok}  - name: Bad\n    kind: bogus\n")
    with pytest.raises(RuleError, match=rf"^{path}, line 7: rule 'Bad': kind: Input should be"):
        load_rules(path)
    path.write_text("rules: [\n")
    with pytest.raises(RuleError, match=rf"^{path}, line 2: not valid YAML"):
        load_rules(path)
