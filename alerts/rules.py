"""Alert rules: pydantic models, per-kind parameters and the YAML loader.

A rule file is ``{rules: [...]}``. Validation errors name the file, the line, the rule and the
field, e.g. ``rules.yaml, line 12: rule 'PostingLatencyHigh': expr.threshold: not a duration``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from alerts.errors import RuleError
from alerts.model import has_template
from collector.config import YamlDoc, read_yaml
from collector.store.errors import ConfigError
from lineage.core.flows import FlowConfig
from lineage.core.timeparse import parse_seconds

Loc = tuple[str | int, ...]
Duration = Annotated[float, BeforeValidator(parse_seconds)]
Team = Literal["support-ops", "finance-ops", "platform"]
Severity = Literal["critical", "error", "warning", "info"]
DEFAULT_RULES = Path(__file__).with_name("rules.yaml")


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PostingLatencyExpr(_Params):
    """A latency percentile of a flow's postings, as the flows file defines its posting latency."""

    quantile: float = Field(0.95, gt=0, lt=1)
    by: Literal["system", "region"] = "system"
    window: Duration = 3600.0
    threshold: Duration
    flow: str | None = Field(None, description="The flow whose posting_latency is measured; default: the default flow.")


class ExceptionExpr(_Params):
    """Open exceptions: their number, growth over ``growth_window``, or oldest age (seconds)."""

    metric: Literal["size", "growth", "oldest_age"] = "size"
    threshold: Duration = 0.0  # a count for size/growth, a duration for oldest_age
    by: Literal["system", "region", "category"] = "system"
    lookback: Duration = 7 * 86400.0
    growth_window: Duration = 3600.0


class SlaBreachExpr(_Params):
    """Stages of ``flow`` late (done after their SLA) or overdue (not done, SLA passed), in
    transactions started over ``window``. The SLAs are the flows file's (lineage/core/domain.py)."""

    flow: str
    stages: list[str] | None = Field(
        None, description="Stage names to watch (``end_to_end`` for the flow's end-to-end SLA); default: all."
    )
    window: Duration = 86400.0
    threshold: int = Field(0, ge=0)


class StuckExpr(_Params):
    """Transactions started over ``lookback`` whose status is stuck (an open stage or the
    end-to-end SLA is overdue, as lineage derives it) and idle for at least ``older_than``."""

    older_than: Duration = 0.0
    flow: str = Field("", description="Only this flow's transactions; default: every flow.")
    lookback: Duration = 7 * 86400.0
    threshold: int = Field(0, ge=0)


class SilentSystemExpr(_Params):
    """Systems seen in ``lookback`` with no hop for their period plus grace."""

    period: Duration = 3600.0
    grace: Duration = 900.0
    systems: dict[str, Duration] = Field(default_factory=dict, description="Per-system periods.")
    exclude: list[str] = Field(default_factory=list)
    lookback: Duration = 7 * 86400.0


class BurnWindow(_Params):
    """One multiwindow row: alert when both windows burn faster than the budget share allows."""

    long: Duration
    short: Duration
    budget_percent: float = Field(gt=0, le=100)


GOOGLE_WINDOWS = {
    "page": [BurnWindow(long=3600, short=300, budget_percent=2), BurnWindow(long=21600, short=1800, budget_percent=5)],
    "ticket": [BurnWindow(long=259200, short=21600, budget_percent=10)],
}


class SloBurnExpr(_Params):
    """An objective on posting latency, e.g. 99% of postings within 4h over 30d."""

    objective: float = Field(gt=0, lt=100, description="Percent of good postings, e.g. 99.")
    latency_target: Duration
    period: Duration = 30 * 86400.0
    tier: Literal["page", "ticket", "all"] = "all"
    windows: list[BurnWindow] | None = None
    flow: str | None = Field(None, description="The flow whose posting_latency is measured; default: the default flow.")

    def burn_windows(self) -> list[BurnWindow]:
        """The configured windows, else the SRE Workbook's for this tier."""
        if self.windows:
            return self.windows
        if self.tier == "all":
            return GOOGLE_WINDOWS["page"] + GOOGLE_WINDOWS["ticket"]
        return GOOGLE_WINDOWS[self.tier]


class KpiExpr(_Params):
    """A KPI the flows file declares, evaluated by lineage's domain layer (lineage/business/kpis.py), so
    a new KPI needs no code. ``mode: threshold``: the KPI's value over ``window`` per ``by``
    group against ``threshold`` (a duration for latency, a ratio 0-1 for failure_rate, a
    count per the KPI's ``per`` for throughput; ``below: true`` fires under it). ``mode: burn``:
    the KPI's objective, burned over multiple windows as ``slo_burn`` does."""

    flow: str
    kpi: str
    mode: Literal["threshold", "burn"] = "threshold"
    threshold: float | str | None = None
    below: bool = False
    quantile: float = Field(0.95, gt=0, lt=1, description="Latency KPIs: the quantile compared.")
    by: Literal["system", "region", "legal_entity", "none"] = "none"
    window: Duration = 3600.0
    period: Duration = 30 * 86400.0
    tier: Literal["page", "ticket", "all"] = "all"
    windows: list[BurnWindow] | None = None

    @model_validator(mode="after")
    def _mode(self) -> KpiExpr:
        if self.mode == "threshold" and self.threshold is None:
            raise ValueError("mode 'threshold' needs a 'threshold'")
        return self

    def burn_windows(self) -> list[BurnWindow]:
        """The configured windows, else the SRE Workbook's for this tier."""
        if self.windows:
            return self.windows
        if self.tier == "all":
            return GOOGLE_WINDOWS["page"] + GOOGLE_WINDOWS["ticket"]
        return GOOGLE_WINDOWS[self.tier]


class CloseExpr(_Params):
    """The close gate (lineage/close): ``at_risk`` fires per legal entity whose period being
    closed (last month in its time zone) is still blocked ``days_before`` days or fewer before its
    deadline (or past it); ``decertified`` fires per entity whose signed period was decertified.
    ``legal_entity`` limits the rule to one entity (default: every entity of the calendar)."""

    check: Literal["at_risk", "decertified"]
    days_before: float = Field(3.0, ge=0, description="at_risk: days before the deadline it starts firing.")
    legal_entity: str | None = None


class QueryExpr(_Params):
    """No parameters: the rule's ``query`` is used as written."""


EXPR_MODELS: dict[str, type[_Params]] = {
    "posting_latency": PostingLatencyExpr,
    "exceptions": ExceptionExpr,
    "sla_breach": SlaBreachExpr,
    "stuck": StuckExpr,
    "silent_system": SilentSystemExpr,
    "slo_burn": SloBurnExpr,
    "kpi": KpiExpr,
    "close": CloseExpr,
    "query": QueryExpr,
}


class Rule(BaseModel):
    """One alerting rule."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    kind: Literal[
        "posting_latency", "exceptions", "sla_breach", "stuck", "silent_system", "slo_burn", "kpi", "close", "query"
    ]
    expr: dict[str, Any] = Field(default_factory=dict)
    query: str | None = None
    interval: Duration = 60.0
    for_: Duration = Field(0.0, alias="for")
    keep_firing_for: Duration = 0.0
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    dashboard: dict[str, str] = Field(
        default_factory=dict,
        description="Dashboard page and filters of the alert's link, e.g. {page: latency, system: "
        "'{{ $labels.system }}'}; built by the dashboard's own link function into the dashboard_url annotation.",
    )
    severity: Severity = "warning"
    team: Team
    limit: int = Field(100, gt=0, description="Instances one evaluation may return; more is an error.")

    @field_validator("labels")
    @classmethod
    def _static_labels(cls, labels: dict[str, str]) -> dict[str, str]:
        for key, value in labels.items():
            if has_template(value):
                raise ValueError(f"label {key!r} is templated; labels are identity, put values in annotations")
            if key in ("alertname", "severity", "team"):
                raise ValueError(f"label {key!r} is set from the rule itself")
        return labels

    @model_validator(mode="after")
    def _check_expr(self) -> Rule:
        if self.kind == "query" and not (self.query or "").strip():
            raise ValueError("kind 'query' needs a 'query'")
        if self.kind != "query" and self.query:
            raise ValueError(f"'query' is only for kind 'query', not {self.kind!r}")
        if self.interval <= 0:
            raise ValueError("interval must be positive")
        return self

    @property
    def params(self) -> Any:
        """The validated parameters of this rule's kind."""
        return EXPR_MODELS[self.kind].model_validate(self.expr)

    def base_labels(self) -> dict[str, str]:
        """Labels every instance of this rule carries."""
        return {**self.labels, "alertname": self.name, "severity": self.severity, "team": self.team}


def _rule_error(index: int, raw: Any, exc: ValidationError, doc: YamlDoc | None, prefix: Loc = ()) -> RuleError:
    name = raw.get("name") if isinstance(raw, dict) else None
    who = f"rule {name!r}" if name else f"rule #{index + 1}"
    first = exc.errors()[0]
    loc = (*prefix, *first["loc"])
    field = ".".join(str(p) for p in loc)
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    problem = f"{who}: {field}: {first['msg']}{more}" if field else f"{who}: {first['msg']}{more}"
    line = doc.line_of(("rules", index, *loc)) if doc else None
    where = f"{doc.source}, line {line}: " if doc and line else (f"{doc.source}: " if doc else "")
    return RuleError(where + problem)


def parse_rules(data: Any, source: str = "<rules>", doc: YamlDoc | None = None) -> list[Rule]:
    """Validate a parsed rule document; RuleError names the line, the rule and the field at fault."""
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise RuleError(f"{source}: expected a mapping with a 'rules' list")
    rules: list[Rule] = []
    for index, raw in enumerate(data["rules"]):
        try:
            rule = Rule.model_validate(raw)
        except ValidationError as exc:
            raise _rule_error(index, raw, exc, doc) from None
        try:
            rule.params  # noqa: B018 - validates the kind's parameters
        except ValidationError as exc:
            raise _rule_error(index, raw, exc, doc, prefix=("expr",)) from None
        rules.append(rule)
    names = [r.name for r in rules]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise RuleError(f"{source}: duplicate rule names: {', '.join(dupes)}")
    return rules


def load_rules(path: Path | str | None = None) -> list[Rule]:
    """Load and validate a rule file (default: the packaged ``alerts/rules.yaml``)."""
    path = Path(path) if path else DEFAULT_RULES
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleError(f"{path}: cannot read the rule file: {exc.strerror or exc}") from None
    try:
        doc = read_yaml(text, str(path))
    except ConfigError as exc:
        raise RuleError(str(exc)) from None
    return parse_rules(doc.data, str(path), doc)


def check_flows(rules: list[Rule], flows: FlowConfig, source: str | Path | None = None) -> None:
    """Every flow and stage a rule names is in the flows file, which alone defines SLAs and
    posting latency (lineage/core/domain.py); RuleError names the rule and the field."""
    where = f"{source or DEFAULT_RULES}: "
    for rule in rules:
        p = rule.params
        flow = getattr(p, "flow", None)
        if flow and flow not in flows.flows:
            known = ", ".join(sorted(flows.flows))
            raise RuleError(f"{where}rule {rule.name!r}: expr.flow: {flow!r} is not in the flows file ({known})")
        if isinstance(p, KpiExpr):
            _check_kpi(rule, p, flows, where)
        if isinstance(p, SlaBreachExpr) and p.stages:
            names = [s.name for s in flows.flows[p.flow].stages] + ["end_to_end"]
            for stage in p.stages:
                if stage not in names:
                    raise RuleError(
                        f"{where}rule {rule.name!r}: expr.stages: flow {p.flow!r} has no stage {stage!r} "
                        f"({', '.join(names)})"
                    )


def _check_kpi(rule: Rule, p: KpiExpr, flows: FlowConfig, where: str) -> None:
    """The KPI exists in its flow; a burn rule's KPI has an objective; the threshold parses."""
    kpi = flows.flows[p.flow].kpi_named(p.kpi)
    if kpi is None:
        names = ", ".join(k.name for k in flows.flows[p.flow].all_kpis())
        raise RuleError(f"{where}rule {rule.name!r}: expr.kpi: flow {p.flow!r} has no KPI {p.kpi!r} ({names})")
    if p.mode == "burn" and kpi.kind == "throughput":
        raise RuleError(f"{where}rule {rule.name!r}: expr.mode: a throughput KPI has no objective to burn")
    if p.mode == "burn" and kpi.objective_s is None and kpi.objective_rate is None:
        raise RuleError(f"{where}rule {rule.name!r}: expr.mode: KPI {p.kpi!r} has no objective in the flows file")
    try:
        kpi_threshold(kpi.kind, p.threshold)
    except ValueError as exc:
        raise RuleError(f"{where}rule {rule.name!r}: expr.threshold: {exc}") from None


def kpi_threshold(kind: str, raw: float | str | None) -> float:
    """A KPI rule's threshold in the KPI's unit: ms for latency (a duration), a ratio for
    failure_rate (0.05 or "5%"), a count for throughput."""
    if raw is None:
        return 0.0
    if kind == "latency":
        return parse_seconds(raw) * 1000
    text = str(raw).strip()
    value = float(text.rstrip("%")) / 100 if text.endswith("%") else float(text)
    if kind == "failure_rate" and not 0 <= value <= 1:
        raise ValueError(f"a failure rate threshold is a ratio 0-1 or a percentage, not {raw!r}")
    return value
