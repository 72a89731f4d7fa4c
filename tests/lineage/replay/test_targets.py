"""Targets file validation: one line, file and line number, problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.store.errors import ConfigError
from lineage.replay.service import load
from lineage.replay.settings import ReplaySettings
from lineage.replay.targets import TargetsError, load_targets, parse_targets

TRANSIENT = frozenset({"erp_unavailable", "timeout"})
GOOD = """targets:
  - system: erp
    url: https://erp-adapter.internal/replay
    headers_env: {Authorization: ERP_REPLAY_AUTH}
    categories: [erp_unavailable, timeout]
    max_per_minute: 60
    approval_over: {EUR: 10000, usd: 12000}
  - system: billing
    url: http://billing:8080/replay
"""


def test_good_file_and_defaults() -> None:
    targets = parse_targets(GOOD, "t.yaml", TRANSIENT, env={"ERP_REPLAY_AUTH": "Bearer s3cret"})
    erp, billing = targets.get("erp"), targets.get("billing")
    assert erp is not None and billing is not None and targets.get("sap") is None
    assert erp.headers == {"Authorization": "Bearer s3cret"} and "s3cret" not in repr(erp)
    assert erp.approval_over == {"EUR": 10000.0, "USD": 12000.0}
    assert not erp.needs_approval(10000, "EUR") and erp.needs_approval(10000.01, "EUR")
    assert erp.needs_approval(5, "GBP") and erp.needs_approval(None, "EUR")  # unlisted or unknown: approve
    assert billing.categories == TRANSIENT and billing.max_per_minute == 60
    assert billing.needs_approval(1, "EUR")  # no thresholds: four-eyes always


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("targets:\n  - system: erp\n", "t.yaml, line 2: target is missing 'url'"),
        ("targets:\n  - {system: erp, url: ftp://x}\n", "t.yaml, line 2: url must be an http(s) URL"),
        (
            "targets:\n  - {system: erp, url: 'http://x', max_per_minute: 0}\n",
            "line 2: max_per_minute must be at least 1",
        ),
        ("targets:\n  - system: erp\n    url: http://x\n    colour: red\n", "t.yaml, line 4: unknown key 'colour'"),
        (
            "targets:\n  - system: erp\n    url: http://x\n    headers_env: {Authorization: NOPE}\n",
            "t.yaml, line 4: environment variable NOPE (header Authorization) is not set",
        ),
        (
            "targets:\n  - {system: erp, url: 'http://x', approval_over: {EUR: lots}}\n",
            "approval_over.EUR must be a number",
        ),
        ("targets:\n  - {system: a, url: 'http://x'}\n  - {system: a, url: 'http://y'}\n", "line 3: duplicate target"),
        ("targets: [\n", "t.yaml, line 2: not valid YAML"),
        ("targets: 3\n", "t.yaml, line 1: 'targets' must be a list"),
    ],
)
def test_bad_files_name_line_and_problem(text: str, message: str) -> None:
    with pytest.raises(TargetsError) as err:
        parse_targets(text, "t.yaml", TRANSIENT, env={})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_path_or_inline_and_config_error(tmp_path: Path) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text("targets:\n  - {system: erp, url: 'http://x'}\n")
    assert load_targets(str(path), TRANSIENT).get("erp") is not None
    assert load_targets("targets: []", TRANSIENT).by_system == {}
    assert load_targets(None, TRANSIENT).by_system == {}
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read"):
        load(ReplaySettings(replay_targets=str(tmp_path / "missing.yaml")), TRANSIENT)
    path.write_text("targets:\n  - {system: erp}\n")
    with pytest.raises(ConfigError, match=rf"^{path}, line 2: target is missing 'url'$"):
        load(ReplaySettings(replay_targets=str(path)), TRANSIENT)


def test_demo_targets_are_valid() -> None:
    from ledgerline.simulator.replay import demo_targets

    targets = parse_targets(demo_targets("http://127.0.0.1:8601/replay"), "demo", TRANSIENT, env={})
    erp = targets.get("erp")
    assert erp is not None and "unmatched_account" in erp.categories and not erp.needs_approval(4999, "EUR")
