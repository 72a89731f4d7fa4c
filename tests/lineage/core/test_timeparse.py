"""The one time module: every component parses durations and instants the same way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from alerts.rules import parse_rules
from lineage.core.flows import parse_flows
from lineage.core.timeparse import (
    MAX_DURATION_S,
    format_duration,
    from_ms,
    parse_duration,
    parse_instant,
    parse_seconds,
    to_ms,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("90s", 90),
        ("15m", 900),
        ("5min", 300),
        ("1h30m", 5400),
        ("2d", 172800),
        ("2w", 1209600),
        ("500ms", 0.5),
        ("90", 90),
        ("0", 0),
        (" 4H ", 14400),
        (30, 30),
        (1.5, 1.5),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_seconds(text) == seconds
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "5 m", "m5", "1h-2m", "soon", "-5", True, -1, "99999999999d", 1e300])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_seconds(text)


def test_format_is_the_inverse() -> None:
    for seconds in (1, 59, 61, 3600, 5400, 86400 + 61):
        assert parse_seconds(format_duration(seconds)) == seconds
    assert format_duration(0) == "0s"


def test_instants() -> None:
    assert parse_instant("24h", NOW) == NOW - timedelta(hours=24)
    assert parse_instant("2026-11-24T10:00:00Z", NOW) == datetime(2026, 11, 24, 10, tzinfo=UTC)
    assert parse_instant("2026-11-24T10:00:00", NOW) == datetime(2026, 11, 24, 10, tzinfo=UTC)
    assert parse_instant("2026-11-24T12:00:00+02:00", NOW) == datetime(2026, 11, 24, 10, tzinfo=UTC)
    assert from_ms(to_ms(NOW)) == NOW and from_ms(None) is None


@pytest.mark.parametrize("text", ["99999999999d", f"{MAX_DURATION_S * 2}", "yesterday", "2026-13-01"])
def test_bad_instants_are_value_errors(text: str) -> None:
    with pytest.raises(ValueError):
        parse_instant(text, NOW)


def test_flows_and_alert_rules_read_durations_alike() -> None:
    flows = parse_flows(
        "flows:\n  f:\n    end_to_end_sla: 2w\n    stages:\n      - {name: a, entity_type: a, step: a.done}\n"
        "      - {name: b, entity_type: b, step: b.done, sla: 5min, required: true}\n",
        "flows.yaml",
    )
    rules = parse_rules(
        yaml.safe_load(
            "rules:\n  - name: R\n    kind: stuck\n    team: platform\n    for: 5min\n    expr: {older_than: 2w}\n"
        ),
        "rules.yaml",
    )
    assert flows.flows["f"].end_to_end_sla_s == 2 * 604800
    assert flows.flows["f"].stages[1].sla_s == 300
    assert rules[0].for_ == 300
