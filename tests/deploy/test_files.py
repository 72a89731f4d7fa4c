"""The deployment files parse and say what the estate needs: services, ports, probes, budgets.

No container engine or Kubernetes runs here, so this checks the files, not a running
estate: every ledgerline command in them parses with the real CLI, the ClickHouse configs
name the same nodes as the Compose file, and every pod has probes, requests and limits.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml

from ledgerline.cli import build_parser

DEPLOY = Path(__file__).parent.parent.parent / "deploy"
COMPOSE = yaml.safe_load((DEPLOY / "compose" / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
K8S = list(yaml.safe_load_all((DEPLOY / "kubernetes" / "ledgerline.yaml").read_text()))
CLICKHOUSE = [f"ch-s{s}-r{r}" for s in (1, 2) for r in (1, 2)]
KEEPERS = ["keeper-1", "keeper-2", "keeper-3"]


def _components(args: list[str]) -> frozenset[str]:
    parsed = build_parser().parse_args(args)  # exits (fails the test) on a wrong command
    return frozenset(getattr(parsed, "components", ()))


def _ledgerline_commands() -> dict[str, list[str]]:
    return {name: svc["command"] for name, svc in SERVICES.items() if svc.get("image") == "ledgerline:latest"}


def test_compose_names_the_estate() -> None:
    assert set(SERVICES) == {
        *CLICKHOUSE,
        *KEEPERS,
        "migrate",
        "otelcol",
        "collector-a",
        "collector-b",
        "api",
        "alerts",
        "dashboard",
        "oauth2-proxy",
    }
    shards = {n: SERVICES[n]["environment"]["CH_SHARD"] for n in CLICKHOUSE}
    assert sorted(shards.values()) == ["1", "1", "2", "2"]
    assert [SERVICES[n]["environment"]["CH_REPLICA"] for n in CLICKHOUSE] == CLICKHOUSE  # unique names
    assert sorted(SERVICES[k]["environment"]["KEEPER_ID"] for k in KEEPERS) == ["1", "2", "3"]


def test_compose_ledgerline_commands_parse_and_split_the_roles() -> None:
    commands = _ledgerline_commands()
    assert commands["migrate"] == ["migrate", "--cluster", "ledgerline"]
    build_parser().parse_args(commands["migrate"])
    roles = {name: _components(cmd) for name, cmd in commands.items() if cmd[0] == "serve"}
    assert roles == {
        "collector-a": {"collector"},
        "collector-b": {"collector"},
        "api": {"api"},
        "alerts": {"alerts", "sealer"},
    }
    build_parser().parse_args(commands["dashboard"])
    for name in ("api", "alerts"):  # one seal key: the sealer signs, the API's packs name it
        assert SERVICES[name]["environment"]["LEDGERLINE_SEAL_KEY"] == "/run/secrets/seal_key"
        assert SERVICES[name]["secrets"] == ["seal_key"]
    for name in roles:
        env = SERVICES[name]["environment"]
        assert env["LEDGERLINE_CLICKHOUSE_CLUSTER"] == "ledgerline", name
        assert SERVICES[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_compose_ports_and_health_checks() -> None:
    assert SERVICES["otelcol"]["ports"] == ["4317:4317", "4318:4318"]
    assert SERVICES["api"]["ports"] == ["8000:8000"]
    assert SERVICES["oauth2-proxy"]["ports"] == ["4180:4180"]
    assert "ports" not in SERVICES["dashboard"]  # only through oauth2-proxy
    assert "--upstream=http://dashboard:8501" in SERVICES["oauth2-proxy"]["command"]
    for name in ("collector-a", "collector-b"):
        assert "ports" not in SERVICES[name]  # behind the stock collector
        assert "4318/readyz" in " ".join(SERVICES[name]["healthcheck"]["test"])
    assert "8000/readyz" in " ".join(SERVICES["api"]["healthcheck"]["test"])
    for name in CLICKHOUSE + KEEPERS:
        assert SERVICES[name]["healthcheck"]["test"]


def test_the_stock_collector_queues_on_disk_and_spreads_over_both_collectors() -> None:
    config = yaml.safe_load((DEPLOY / "compose" / "otel-collector.yaml").read_text())
    exporter = config["exporters"]["loadbalancing/ledgerline"]
    assert exporter["sending_queue"]["storage"] == "file_storage"
    assert exporter["resolver"]["static"]["hostnames"] == ["collector-a:4317", "collector-b:4317"]
    assert "file_storage" in config["service"]["extensions"]
    assert config["service"]["pipelines"]["traces"]["exporters"] == ["loadbalancing/ledgerline"]


def test_clickhouse_configs_name_the_compose_nodes() -> None:
    cluster = ET.parse(DEPLOY / "clickhouse" / "cluster.xml").getroot()
    shards = cluster.findall("./remote_servers/ledgerline/shard")
    assert [[r.findtext("host") for r in s.findall("replica")] for s in shards] == [CLICKHOUSE[:2], CLICKHOUSE[2:]]
    assert all(s.findtext("internal_replication") == "true" for s in shards)
    assert [n.findtext("host") for n in cluster.findall("./zookeeper/node")] == KEEPERS
    assert cluster.find("./keeper_map_path_prefix") is not None
    assert cluster.find("./macros/shard").get("from_env") == "CH_SHARD"  # type: ignore[union-attr]
    keeper = ET.parse(DEPLOY / "clickhouse" / "keeper.xml").getroot()
    assert [s.findtext("hostname") for s in keeper.findall("./keeper_server/raft_configuration/server")] == KEEPERS
    users = ET.parse(DEPLOY / "clickhouse" / "users.xml").getroot()
    profile = users.find("./profiles/ledgerline")
    assert profile is not None
    assert profile.findtext("distributed_product_mode") == "global"
    assert profile.findtext("optimize_skip_unused_shards") == "1"
    assert profile.findtext("distributed_foreground_insert") == "1"


def _k8s(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in K8S if d["kind"] == kind}


def test_kubernetes_pods_have_probes_requests_limits_and_budgets() -> None:
    deployments = _k8s("Deployment")
    assert set(deployments) == {"ledgerline-collector", "ledgerline-api", "ledgerline-alerts"}
    budgets = {
        tuple(sorted(p["spec"]["selector"]["matchLabels"].items())) for p in _k8s("PodDisruptionBudget").values()
    }
    services = {tuple(sorted(s["spec"]["selector"].items())) for s in _k8s("Service").values()}
    roles = {}
    for name, dep in deployments.items():
        labels = dep["spec"]["selector"]["matchLabels"]
        assert dep["spec"]["template"]["metadata"]["labels"] == labels
        assert tuple(sorted(labels.items())) in budgets, name
        assert dep["spec"]["replicas"] >= 2, name
        [container] = dep["spec"]["template"]["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["readinessProbe"]["httpGet"]["port"] in ports
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) == {"cpu", "memory"}, name
        roles[name] = _components(container["args"])
        if roles[name] & {"api", "sealer"}:  # one seal key everywhere it is used
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert env["LEDGERLINE_SEAL_KEY"] == "/var/run/ledgerline/seal.key", name
            assert container["volumeMounts"][0]["mountPath"] == "/var/run/ledgerline", name
        if name != "ledgerline-alerts":
            assert tuple(sorted(labels.items())) in services, name
    assert roles["ledgerline-collector"] == {"collector"}
    assert roles["ledgerline-api"] == {"api"}
    assert {"alerts", "sealer"} <= roles["ledgerline-alerts"]
    collector_ports = {p["port"] for p in _k8s("Service")["ledgerline-collector"]["spec"]["ports"]}
    assert collector_ports == {4317, 4318}
    [job] = _k8s("Job").values()
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate", "--cluster", "ledgerline"]
