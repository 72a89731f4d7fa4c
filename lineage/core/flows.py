"""Flow definitions: parse and validate the flows YAML. Pure, no I/O beyond reading the file.

Errors name the file, the line and the problem, so a bad file is refused at start with a
message an operator can act on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from collector.errors import ConfigError
from lineage.core.timeparse import parse_duration

DEFAULT_PATH = Path(__file__).with_name("flows.yaml")


class FlowConfigError(ConfigError):
    """The flows file cannot be used; the message names the line and the problem."""


@dataclass(frozen=True)
class Stage:
    """One stage: complete when an ``entity_type`` hop reports ``step`` with outcome ok."""

    name: str
    entity_type: str
    step: str
    sla_s: float | None = None
    required: bool = True


@dataclass(frozen=True)
class Flow:
    """An ordered list of stages with SLAs, the posting-latency step pair and named KPIs."""

    name: str
    stages: tuple[Stage, ...]
    end_to_end_sla_s: float | None = None
    latency_from: str = "invoice.issued"
    latency_to: str = "ledger.posted"
    description: str = ""
    kpis: tuple[Kpi, ...] = ()

    def kpi_named(self, name: str) -> Kpi | None:
        """The KPI called ``name`` (``posting_latency`` is always one), if any."""
        return next((k for k in self.all_kpis() if k.name == name), None)

    def all_kpis(self) -> tuple[Kpi, ...]:
        """Posting latency (always a KPI, from the flow's ``posting_latency``), then the declared ones."""
        posting = Kpi(POSTING_LATENCY, "latency", from_step=self.latency_from, to_step=self.latency_to)
        return (posting, *self.kpis)

    def stage_of(self, entity_type: str, step: str) -> Stage | None:
        """The stage an (entity type, step) completes, if any."""
        for stage in self.stages:
            if stage.entity_type == entity_type and stage.step == step:
                return stage
        return None

    def stage_named(self, name: str) -> Stage | None:
        """The stage called ``name``, if any."""
        return next((s for s in self.stages if s.name == name), None)


POSTING_LATENCY = "posting_latency"
KPI_KINDS = ("latency", "throughput", "failure_rate")


@dataclass(frozen=True)
class Kpi:
    """A named business KPI of a flow (lineage/business/kpis.py computes it).

    ``latency``: from the ``from_step`` hop of an entity to the ``to_step`` hop that names it
    as parent (``match: parent``) or that shares its correlation ID (``match: correlation``);
    objective: ``objective_percent`` of them within ``objective_s``. ``throughput``: distinct
    entities completing ``step`` ok, as a rate per ``per_s``. ``failure_rate``: failed
    attempts of ``step`` over all its attempts; objective: at most ``objective_rate``.
    """

    name: str
    kind: str
    from_step: str = ""
    to_step: str = ""
    match: str = "parent"
    step: str = ""
    per_s: float = 3600.0
    objective_s: float | None = None
    objective_percent: float | None = None
    objective_rate: float | None = None
    description: str = ""


@dataclass(frozen=True)
class Side:
    """One side of a reconciliation: ok hops of ``step`` by ``entity_type`` (in ``system``)."""

    step: str
    entity_type: str
    system: str = ""


@dataclass(frozen=True)
class Reconciliation:
    """Two steps in different systems that must agree (lineage/business/reconcile.py computes it).

    ``match: parent``: the right hop names the left entity as its parent; ``match: key``: both
    sides carry the same business key (entity id). Amounts agree within ``tolerance``.
    """

    name: str
    left: Side
    right: Side
    match: str = "parent"
    tolerance: float = 0.01
    description: str = ""


@dataclass(frozen=True)
class FlowConfig:
    """Every flow, the default flow and the error-category mapping."""

    flows: dict[str, Flow]
    default_flow: str
    transient: frozenset[str] = field(default_factory=frozenset)
    business: frozenset[str] = field(default_factory=frozenset)
    unknown_is_transient: bool = False
    systems: tuple[str, ...] = ()  # systems the estate is known to have (listed even before their first hop)
    reconciliations: dict[str, Reconciliation] = field(default_factory=dict)

    def flow(self, name: str | None) -> Flow:
        """The named flow, or the default one for unknown or missing names."""
        return self.flows.get(name or "", self.flows[self.default_flow])

    def recoverable(self, category: str) -> bool:
        """True for transient categories (a retry may succeed), False for business rules."""
        if category in self.transient:
            return True
        if category in self.business:
            return False
        return self.unknown_is_transient

    def transient_list(self) -> list[str]:
        """Transient categories, for binding into SQL."""
        return sorted(self.transient)


# -- node helpers -------------------------------------------------------------------------
def _where(node: Node, source: str) -> str:
    return f"{source}, line {node.start_mark.line + 1}"


def _fail(node: Node, source: str, problem: str) -> FlowConfigError:
    return FlowConfigError(f"{_where(node, source)}: {problem}")


def _mapping(node: Node, source: str, what: str, allowed: set[str]) -> dict[str, Node]:
    if not isinstance(node, MappingNode):
        raise _fail(node, source, f"{what} must be a mapping")
    out: dict[str, Node] = {}
    for key, value in node.value:
        name = key.value if isinstance(key, ScalarNode) else ""
        if name not in allowed:
            raise _fail(key, source, f"unknown key {name!r} in {what} (allowed: {', '.join(sorted(allowed))})")
        if name in out:
            raise _fail(key, source, f"duplicate key {name!r} in {what}")
        out[name] = value
    return out


def _text(node: Node, source: str, what: str) -> str:
    if not isinstance(node, ScalarNode) or not str(node.value).strip():
        raise _fail(node, source, f"{what} must be a non-empty string")
    return str(node.value).strip()


def _bool(node: Node, source: str, what: str) -> bool:
    value = _text(node, source, what).lower()
    if value not in ("true", "false", "yes", "no"):
        raise _fail(node, source, f"{what} must be true or false, not {value!r}")
    return value in ("true", "yes")


def _duration(node: Node, source: str, what: str) -> float:
    try:
        return parse_duration(_text(node, source, what)).total_seconds()
    except ValueError as exc:
        raise _fail(node, source, f"{what}: {exc}") from None


def _strings(node: Node, source: str, what: str) -> frozenset[str]:
    if not isinstance(node, SequenceNode):
        raise _fail(node, source, f"{what} must be a list")
    return frozenset(_text(item, source, what) for item in node.value)


# -- parsing ------------------------------------------------------------------------------
def _stage(node: Node, source: str) -> Stage:
    keys = _mapping(node, source, "a stage", {"name", "entity_type", "step", "sla", "required"})
    for needed in ("name", "entity_type", "step"):
        if needed not in keys:
            raise _fail(node, source, f"stage is missing {needed!r}")
    return Stage(
        name=_text(keys["name"], source, "stage name"),
        entity_type=_text(keys["entity_type"], source, "entity_type"),
        step=_text(keys["step"], source, "step"),
        sla_s=_duration(keys["sla"], source, "sla") if "sla" in keys else None,
        required=_bool(keys["required"], source, "required") if "required" in keys else True,
    )


def _latency(node: Node, source: str, stages: tuple[Stage, ...]) -> tuple[str, str]:
    keys = _mapping(node, source, "posting_latency", {"from", "to"})
    steps = {s.step for s in stages}
    pair = []
    for end in ("from", "to"):
        if end not in keys:
            raise _fail(node, source, f"posting_latency is missing {end!r}")
        step = _text(keys[end], source, f"posting_latency.{end}")
        if step not in steps:
            raise _fail(keys[end], source, f"posting_latency.{end} {step!r} is not the step of a stage")
        pair.append(step)
    return pair[0], pair[1]


def _percent(node: Node, source: str, what: str) -> float:
    text = _text(node, source, what).rstrip("%").strip()
    try:
        value = float(text)
    except ValueError:
        raise _fail(node, source, f"{what} must be a percentage, e.g. 95 or 2%") from None
    if not 0 < value < 100:
        raise _fail(node, source, f"{what} must be between 0 and 100 (exclusive), not {value}")
    return value


def _choice(node: Node, source: str, what: str, allowed: tuple[str, ...]) -> str:
    value = _text(node, source, what)
    if value not in allowed:
        raise _fail(node, source, f"{what} must be one of {', '.join(allowed)}, not {value!r}")
    return value


_KPI_KEYS = {
    "latency": {"kind", "from", "to", "match", "objective", "description"},
    "throughput": {"kind", "step", "per", "description"},
    "failure_rate": {"kind", "step", "objective", "description"},
}


def _kpi(name: str, node: Node, source: str, steps: set[str]) -> Kpi:
    if not isinstance(node, MappingNode):
        raise _fail(node, source, f"kpi {name!r} must be a mapping")
    kind_node = next((v for k, v in node.value if isinstance(k, ScalarNode) and k.value == "kind"), None)
    if kind_node is None:
        raise _fail(node, source, f"kpi {name!r} is missing 'kind' ({', '.join(KPI_KINDS)})")
    kind = _choice(kind_node, source, f"kpi {name!r} kind", KPI_KINDS)
    keys = _mapping(node, source, f"kpi {name!r}", _KPI_KEYS[kind])
    desc = _text(keys["description"], source, "description") if "description" in keys else ""

    def step(key: str) -> str:
        if key not in keys:
            raise _fail(node, source, f"kpi {name!r} is missing {key!r}")
        value = _text(keys[key], source, f"kpi {name!r} {key}")
        if value not in steps:
            raise _fail(keys[key], source, f"kpi {name!r} {key}: {value!r} is not the step of a stage")
        return value

    if kind == "throughput":
        per = _duration(keys["per"], source, "per") if "per" in keys else 3600.0
        if per <= 0:
            raise _fail(keys["per"], source, "per must be positive")
        return Kpi(name, kind, step=step("step"), per_s=per, description=desc)
    if kind == "failure_rate":
        rate = _percent(keys["objective"], source, f"kpi {name!r} objective") / 100 if "objective" in keys else None
        return Kpi(name, kind, step=step("step"), objective_rate=rate, description=desc)
    target, percent = None, None
    if "objective" in keys:
        obj = _mapping(keys["objective"], source, f"kpi {name!r} objective", {"target", "percent"})
        if set(obj) != {"target", "percent"}:
            raise _fail(keys["objective"], source, f"kpi {name!r} objective needs 'target' and 'percent'")
        target = _duration(obj["target"], source, "objective.target")
        percent = _percent(obj["percent"], source, "objective.percent")
    match = _choice(keys["match"], source, "match", ("parent", "correlation")) if "match" in keys else "parent"
    return Kpi(
        name,
        kind,
        from_step=step("from"),
        to_step=step("to"),
        match=match,
        objective_s=target,
        objective_percent=percent,
        description=desc,
    )


def parse_kpis(node: Node, source: str, flow: str, stages: tuple[Stage, ...]) -> tuple[Kpi, ...]:
    """The ``kpis`` mapping of a flow: name -> {kind, ...}; steps must be steps of its stages."""
    kpis = _mapping(node, source, f"kpis of flow {flow!r}", _names(node))
    if POSTING_LATENCY in kpis:
        raise _fail(
            kpis[POSTING_LATENCY], source, f"kpi {POSTING_LATENCY!r} is built in: set the flow's posting_latency"
        )
    steps = {s.step for s in stages}
    return tuple(_kpi(name, value, source, steps) for name, value in kpis.items())


def _side(node: Node, source: str, what: str) -> Side:
    keys = _mapping(node, source, what, {"step", "entity_type", "system"})
    for needed in ("step", "entity_type"):
        if needed not in keys:
            raise _fail(node, source, f"{what} is missing {needed!r}")
    return Side(
        step=_text(keys["step"], source, f"{what}.step"),
        entity_type=_text(keys["entity_type"], source, f"{what}.entity_type"),
        system=_text(keys["system"], source, f"{what}.system") if "system" in keys else "",
    )


def parse_reconciliations(node: Node, source: str) -> dict[str, Reconciliation]:
    """The top-level ``reconciliations`` mapping: name -> {left, right, match, tolerance}."""
    out: dict[str, Reconciliation] = {}
    for name, value in _mapping(node, source, "reconciliations", _names(node)).items():
        what = f"reconciliation {name!r}"
        keys = _mapping(value, source, what, {"left", "right", "match", "tolerance", "description"})
        for needed in ("left", "right"):
            if needed not in keys:
                raise _fail(value, source, f"{what} is missing {needed!r}")
        tolerance = 0.01
        if "tolerance" in keys:
            try:
                tolerance = float(_text(keys["tolerance"], source, "tolerance"))
            except ValueError:
                raise _fail(keys["tolerance"], source, f"{what} tolerance must be a number") from None
            if tolerance < 0:
                raise _fail(keys["tolerance"], source, f"{what} tolerance must not be negative")
        left, right = _side(keys["left"], source, f"{what} left"), _side(keys["right"], source, f"{what} right")
        if (left.step, left.entity_type, left.system) == (right.step, right.entity_type, right.system):
            raise _fail(value, source, f"{what} compares a step with itself")
        out[name] = Reconciliation(
            name=name,
            left=left,
            right=right,
            match=_choice(keys["match"], source, "match", ("parent", "key")) if "match" in keys else "parent",
            tolerance=tolerance,
            description=_text(keys["description"], source, "description") if "description" in keys else "",
        )
    return out


def _flow(name: str, node: Node, source: str) -> Flow:
    keys = _mapping(
        node, source, f"flow {name!r}", {"description", "end_to_end_sla", "posting_latency", "stages", "kpis"}
    )
    if "stages" not in keys or not isinstance(keys["stages"], SequenceNode) or not keys["stages"].value:
        raise _fail(node, source, f"flow {name!r} needs a non-empty list of stages")
    stages = tuple(_stage(item, source) for item in keys["stages"].value)
    seen: set[str] = set()
    for item, stage in zip(keys["stages"].value, stages, strict=True):
        if stage.name in seen:
            raise _fail(item, source, f"duplicate stage name {stage.name!r} in flow {name!r}")
        seen.add(stage.name)
    latency = ("invoice.issued", "ledger.posted")
    if "posting_latency" in keys:
        latency = _latency(keys["posting_latency"], source, stages)
    return Flow(
        name=name,
        stages=stages,
        end_to_end_sla_s=_duration(keys["end_to_end_sla"], source, "end_to_end_sla")
        if "end_to_end_sla" in keys
        else None,
        latency_from=latency[0],
        latency_to=latency[1],
        description=_text(keys["description"], source, "description") if "description" in keys else "",
        kpis=parse_kpis(keys["kpis"], source, name, stages) if "kpis" in keys else (),
    )


def parse_flows(text: str, source: str = "<flows>") -> FlowConfig:
    """Parse and validate a flows document; raise FlowConfigError naming the line."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        raise FlowConfigError(f"{source}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if root is None:
        raise FlowConfigError(f"{source}: the file is empty")
    keys = _mapping(
        root, source, "the document", {"default_flow", "error_categories", "flows", "systems", "reconciliations"}
    )
    if "flows" not in keys:
        raise _fail(root, source, "missing 'flows'")
    flow_nodes = _mapping(keys["flows"], source, "flows", _names(keys["flows"]))
    if not flow_nodes:
        raise _fail(keys["flows"], source, "define at least one flow")
    flows = {name: _flow(name, node, source) for name, node in flow_nodes.items()}
    default = next(iter(flows))
    if "default_flow" in keys:
        default = _text(keys["default_flow"], source, "default_flow")
        if default not in flows:
            raise _fail(keys["default_flow"], source, f"default_flow {default!r} is not a defined flow")
    transient: frozenset[str] = frozenset()
    business: frozenset[str] = frozenset()
    unknown = False
    if "error_categories" in keys:
        cats = _mapping(
            keys["error_categories"], source, "error_categories", {"transient", "business", "unknown_is_transient"}
        )
        transient = _strings(cats["transient"], source, "transient") if "transient" in cats else transient
        business = _strings(cats["business"], source, "business") if "business" in cats else business
        if "unknown_is_transient" in cats:
            unknown = _bool(cats["unknown_is_transient"], source, "unknown_is_transient")
        both = transient & business
        if both:
            raise _fail(keys["error_categories"], source, f"categories both transient and business: {sorted(both)}")
    systems = tuple(sorted(_strings(keys["systems"], source, "systems"))) if "systems" in keys else ()
    recs = parse_reconciliations(keys["reconciliations"], source) if "reconciliations" in keys else {}
    return FlowConfig(flows, default, transient, business, unknown, systems, recs)


def _names(node: Node) -> set[str]:
    if isinstance(node, MappingNode):
        return {k.value for k, _ in node.value if isinstance(k, ScalarNode)}
    return set()


def load_flows(path: Path | str | None = None) -> FlowConfig:
    """Load the flows file: ``path``, else ``$LEDGERLINE_FLOWS``, else the packaged default."""
    chosen = Path(path or os.environ.get("LEDGERLINE_FLOWS") or DEFAULT_PATH)
    try:
        text = chosen.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlowConfigError(f"{chosen}: cannot read the flows file: {exc.strerror}") from None
    return parse_flows(text, str(chosen))
