"""deploy/grafana is what ``ledgerline grafana`` generates, and Grafana can load it: dashboards
with the fields Grafana requires, provisioning files that parse and point at each other."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ledgerline.cli import main
from ledgerline.grafana import Options, render, stale
from ledgerline.grafana.model import DATASOURCE_UID, PLUGIN, SCHEMA_VERSION
from lineage.core.flows import load_flows

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "deploy" / "grafana"
FILES = render(load_flows(), Options())


def test_the_committed_files_are_what_the_generator_writes() -> None:
    assert stale(OUT, FILES) == [], "run `ledgerline grafana --out deploy/grafana`"
    generated = {str(p.relative_to(OUT)) for p in OUT.rglob("*") if p.is_file() and p.name != "README.md"}
    assert generated == set(FILES)


@pytest.mark.parametrize("path", [p for p in FILES if p.endswith(".json")])
def test_each_dashboard_has_the_fields_grafana_requires(path: str) -> None:
    board = json.loads(FILES[path])
    assert board["uid"] and len(board["uid"]) <= 40 and board["title"]
    assert board["schemaVersion"] == SCHEMA_VERSION and isinstance(board["version"], int)
    assert board["time"]["from"].startswith("now-") and board["time"]["to"] == "now"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)) > 0
    for panel in board["panels"]:
        assert panel["type"] in ("timeseries", "table", "stat", "barchart") and panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        assert panel["datasource"] == {"type": PLUGIN, "uid": DATASOURCE_UID}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["refId"] and target["datasource"] == panel["datasource"]
            assert target["editorType"] == "sql" and target["format"] in (0, 1) and target["rawSql"].strip()
        for override in panel["fieldConfig"]["overrides"]:
            assert override["matcher"]["id"] == "byName"
        if "repeat" in panel:
            assert panel["repeat"] in {v["name"] for v in board["templating"]["list"]}
    for variable in board["templating"]["list"]:
        assert variable["name"] and variable["type"] in ("query", "custom", "textbox", "constant")
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] == DATASOURCE_UID and variable["query"]
        used = f"${variable['name']}" in FILES[path] or f"${{{variable['name']}" in FILES[path]
        assert used, f"variable {variable['name']} is used by no panel"


def test_the_business_flows_time_picker_drives_every_panel() -> None:
    board = json.loads(FILES["dashboards/business-flows.json"])
    for panel in board["panels"]:
        sql = panel["targets"][0]["rawSql"]
        assert "$__timeFilter(" in sql or "$__fromTime" in sql, panel["title"]
        if panel["targets"][0]["format"] == 0:
            assert "$__timeInterval(" in sql, panel["title"]
        assert "$__conditionalAll(" in sql, panel["title"]


def test_the_provisioning_files_parse_and_point_at_each_other() -> None:
    sources = yaml.safe_load(FILES["provisioning/datasources/ledgerline.yaml"])
    assert sources["apiVersion"] == 1
    (source,) = sources["datasources"]
    assert source["type"] == PLUGIN and source["uid"] == DATASOURCE_UID
    assert {"host", "port", "protocol", "username", "defaultDatabase"} <= set(source["jsonData"])
    assert source["secureJsonData"]["password"].startswith("${")  # from Grafana's environment
    providers = yaml.safe_load(FILES["provisioning/dashboards/ledgerline.yaml"])
    (provider,) = providers["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/")


def test_the_command_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grafana", "--out", str(tmp_path)]) == 0
    assert stale(tmp_path, FILES) == []
    assert main(["grafana", "--out", str(tmp_path), "--check"]) == 0
    (tmp_path / "dashboards" / "business-flows.json").write_text("{}")
    assert main(["grafana", "--out", str(tmp_path), "--check"]) == 2
    assert "dashboards/business-flows.json" in capsys.readouterr().err
    scoped = ["grafana", "--out", str(tmp_path), "--scoped", "grafana_emea=LL-DE-GmbH,LL-FR-SAS"]
    assert main(scoped) == 0
    assert "TO grafana_emea" in (tmp_path / "clickhouse" / "grafana-readers.sql").read_text()
    with pytest.raises(SystemExit):
        main(["grafana", "--out", str(tmp_path), "--scoped", "no-equals"])
