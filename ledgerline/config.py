"""Everything ``serve`` needs, read and validated before anything opens the store or listens.

A bad setting or file is a :class:`ConfigError` with one line (``file, line N: problem`` or
``LEDGERLINE_X: problem``); the CLI prints it and exits 2 with nothing left running.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from alerts.errors import RuleError
from alerts.routing import ReceiversConfig, load_receivers
from alerts.rules import DEFAULT_RULES, Rule, check_flows, load_rules
from alerts.settings import AlertSettings
from collector.config import settings_error
from collector.settings import CollectorSettings
from dashboard.settings import DashboardSettings
from dashboard.state import check_link
from lineage.auth.settings import AuthSettings
from lineage.close.config import CloseConfig, load_close
from lineage.core.flows import FlowConfig, load_flows
from lineage.evidence.settings import EvidenceSettings
from lineage.replay.service import load as load_replay_targets
from lineage.replay.settings import ReplaySettings
from lineage.replay.targets import Targets
from lineage.settings import LineageSettings

S = TypeVar("S", bound=BaseSettings)


def read_settings(cls: type[S], **overrides: Any) -> S:
    """A settings class from the environment (and ``overrides``); errors as one ConfigError line."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        raise settings_error(exc) from None


@dataclass(frozen=True)
class ServeConfig:
    """Validated settings and files of every component ``serve`` runs."""

    collector: CollectorSettings
    lineage: LineageSettings
    alerts: AlertSettings
    flows: FlowConfig
    rules: list[Rule]
    receivers: ReceiversConfig
    auth: AuthSettings
    replay: ReplaySettings
    targets: Targets
    evidence: EvidenceSettings
    close: CloseConfig


def load_serve_config(
    collector: CollectorSettings, auth: AuthSettings | None = None, *, listens: bool = True
) -> ServeConfig:
    """Read and check every other component's settings and files; nothing is opened or bound.

    ``listens=False`` (no collector among the components): the ingest bind is not checked."""
    if listens:
        collector.check_bind()
    auth = auth or read_settings(AuthSettings)
    auth.check(collector.host, collector.insecure)
    lineage = read_settings(LineageSettings)
    alerts = dashboard_links(read_settings(AlertSettings))
    replay = read_settings(ReplaySettings)
    flows = load_flows(lineage.flows)
    return ServeConfig(
        collector=collector,
        lineage=lineage,
        alerts=alerts,
        auth=auth,
        flows=flows,
        replay=replay,
        evidence=read_settings(EvidenceSettings),
        targets=load_replay_targets(replay, flows.transient),
        rules=load_alert_rules(alerts, flows),
        receivers=load_receivers(alerts.alert_receivers),
        close=load_close(flows, lineage.close),
    )


def dashboard_links(alerts: AlertSettings) -> AlertSettings:
    """Alert links go to ``LEDGERLINE_DASHBOARD_URL``, else to the dashboard's own port
    (``LEDGERLINE_DASHBOARD_PORT``) on this host: the two settings never disagree."""
    if "dashboard_url" in alerts.model_fields_set:
        return alerts
    port = read_settings(DashboardSettings).dashboard_port
    return alerts.model_copy(update={"dashboard_url": f"http://127.0.0.1:{port}"})


def load_alert_rules(alerts: AlertSettings, flows: FlowConfig) -> list[Rule]:
    """The rule file, with every flow and stage it names checked against the flows file and
    every rule's dashboard link against the dashboard's pages."""
    rules = load_rules(alerts.alert_rules)
    check_flows(rules, flows, alerts.alert_rules)
    for rule in rules:
        if rule.dashboard:
            try:
                check_link(rule.dashboard)
            except ValueError as exc:
                raise RuleError(
                    f"{alerts.alert_rules or DEFAULT_RULES}: rule {rule.name!r}: dashboard: {exc}"
                ) from None
    return rules
