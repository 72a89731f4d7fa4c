"""Flow definitions: the packaged default and refusals that name the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from lineage.core.flows import FlowConfigError, load_flows, parse_flows
from lineage.settings import LineageSettings


def test_default_flows() -> None:
    config = load_flows()
    flow = config.flow(None)
    assert flow.name == "support_credit" and config.default_flow == "support_credit"
    assert [(s.entity_type, s.step, s.sla_s) for s in flow.stages] == [
        ("case", "case.opened", None),
        ("credit", "credit.approved", 4 * 3600),
        ("invoice", "invoice.issued", 3600),
        ("ledger", "ledger.posted", 4 * 3600),
    ]
    assert flow.end_to_end_sla_s == 86400 and (flow.latency_from, flow.latency_to) == (
        "invoice.issued",
        "ledger.posted",
    )
    assert config.recoverable("erp_unavailable") and config.recoverable("timeout")
    assert not config.recoverable("tax_error") and not config.recoverable("unmatched_account")
    assert not config.recoverable("never-heard-of-it")
    assert config.flow("unknown-flow").name == "support_credit"


def test_env_variable_points_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("flows:\n  f:\n    stages:\n      - {name: a, entity_type: x, step: x.done}\n")
    monkeypatch.setenv("LEDGERLINE_FLOWS", str(path))
    assert load_flows().default_flow == "f"
    assert LineageSettings().flows == path


GOOD = "flows:\n  f:\n    stages:\n      - {name: a, entity_type: x, step: x.done}\n"


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "the file is empty"),
        ("flows: [\n", "line 2: not valid YAML"),
        ("flow:\n  f: {}\n", "line 1: unknown key 'flow' in the document"),
        ("flows:\n  f:\n    stages: []\n", "line 3: flow 'f' needs a non-empty list of stages"),
        ("flows:\n  f:\n    stages:\n      - {name: a, entity_type: x}\n", "line 4: stage is missing 'step'"),
        (
            "flows:\n  f:\n    stages:\n      - {name: a, entity_type: x, step: s, sla: soon}\n",
            "line 4: sla: not a duration: 'soon'",
        ),
        (
            "flows:\n  f:\n    stages:\n      - {name: a, entity_type: x, step: s, required: maybe}\n",
            "line 4: required must be true or false",
        ),
        (
            "flows:\n  f:\n    stages:\n      - {name: a, entity_type: x, step: s}\n"
            "      - {name: a, entity_type: y, step: t}\n",
            "line 5: duplicate stage name 'a'",
        ),
        (
            GOOD.replace("    stages:", "    posting_latency: {from: x.done, to: y.done}\n    stages:"),
            "line 3: posting_latency.to 'y.done' is not the step of a stage",
        ),
        ("default_flow: g\n" + GOOD, "line 1: default_flow 'g' is not a defined flow"),
        ("error_categories:\n  transient: [a]\n  business: [a]\n" + GOOD, "both transient and business"),
        (
            "flows:\n  f:\n    colour: blue\n    stages:\n      - {name: a, entity_type: x, step: s}\n",
            "line 3: unknown key 'colour' in flow 'f'",
        ),
    ],
)
def test_invalid_files_are_refused_with_line(text: str, message: str) -> None:
    with pytest.raises(FlowConfigError) as err:
        parse_flows(text, "flows.yaml")
    assert str(err.value).startswith("flows.yaml") and message in str(err.value)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(FlowConfigError, match="cannot read the flows file"):
        load_flows(tmp_path / "missing.yaml")


def test_app_refuses_an_invalid_flows_file(tmp_path: Path, store: object) -> None:
    from lineage.api.app import create_app

    bad = tmp_path / "flows.yaml"
    bad.write_text("flows:\n  f:\n    stages:\n      - {name: a, entity_type: x, step: s, sla: 4 hours}\n")
    with pytest.raises(FlowConfigError, match=r"flows.yaml, line 4: sla: not a duration: '4 hours'"):
        create_app(LineageSettings(flows=bad), store)  # type: ignore[arg-type]
