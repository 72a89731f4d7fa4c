"""Alert links are built by the dashboard's own link function and open the page they name."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from alerts.evaluator import Evaluator
from alerts.model import Sample
from alerts.rules import load_rules, parse_rules
from alerts.settings import AlertSettings
from collector.store.errors import ConfigError
from dashboard.state import PAGES, from_params, link_to
from ledgerline.config import load_alert_rules
from lineage.core.flows import load_flows

LABELS = {"system": "erp", "flow": "support_credit", "stage": "ledger", "region": "eu-west"}


class _NoStore:
    """The evaluator only reads persisted alerts at start; none here."""

    def load_alerts(self) -> dict[str, dict[str, object]]:
        return {}


def _annotate(rule_name: str) -> dict[str, str]:
    rules = load_rules()
    evaluator = Evaluator(_NoStore(), rules, load_flows(), dashboard_url="http://dash.test", link=link_to)  # type: ignore[arg-type]
    rule = next(r for r in rules if r.name == rule_name)
    return evaluator._annotate(rule)(LABELS, Sample(LABELS, 1.0, ("C-1",)))  # type: ignore[no-any-return]


@pytest.mark.parametrize("rule", [r for r in load_rules() if r.dashboard], ids=lambda r: r.name)
def test_every_default_rule_links_to_its_page_and_filters(rule: object) -> None:
    notes = _annotate(rule.name)  # type: ignore[attr-defined]
    url = urlsplit(notes["dashboard_url"])
    assert f"{url.scheme}://{url.netloc}" == "http://dash.test" and url.path == "/"
    parsed = from_params(parse_qs(url.query))
    expected = rule.dashboard  # type: ignore[attr-defined]
    assert parsed.page == expected["page"] and parsed.page in PAGES
    for key, template in expected.items():
        if key == "page":
            continue
        label = template.split("$labels.")[1].split()[0] if "$labels." in template else None
        assert getattr(parsed, key) == (LABELS[label] if label else template), key


def test_every_default_rule_has_a_link() -> None:
    assert all(r.dashboard for r in load_rules())


def test_an_unknown_page_or_filter_is_refused_at_start(tmp_path: object) -> None:
    path = tmp_path / "rules.yaml"  # type: ignore[operator]
    base = "rules:\n  - name: X\n    kind: stuck\n    team: platform\n    expr: {older_than: 1h}\n"
    path.write_text(base + "    dashboard: {page: systems}\n")
    with pytest.raises(ConfigError, match="rule 'X': dashboard: unknown dashboard page 'systems'"):
        load_alert_rules(AlertSettings(alert_rules=path), load_flows())
    path.write_text(base + "    dashboard: {page: latency, view: x}\n")
    with pytest.raises(ConfigError, match="unknown dashboard filter"):
        load_alert_rules(AlertSettings(alert_rules=path), load_flows())


def test_without_a_link_function_no_second_link_format_is_invented() -> None:
    [rule] = parse_rules(
        {
            "rules": [
                {
                    "name": "R",
                    "kind": "stuck",
                    "team": "platform",
                    "expr": {"older_than": "1h"},
                    "dashboard": {"page": "sla"},
                }
            ]
        }
    )
    evaluator = Evaluator(_NoStore(), [rule], load_flows())  # type: ignore[arg-type]
    assert "dashboard_url" not in evaluator._annotate(rule)(LABELS, Sample(LABELS, 1.0, ()))
