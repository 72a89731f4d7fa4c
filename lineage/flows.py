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
from lineage.timeparse import parse_duration

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
    """An ordered list of stages with SLAs and the posting-latency step pair."""

    name: str
    stages: tuple[Stage, ...]
    end_to_end_sla_s: float | None = None
    latency_from: str = "invoice.issued"
    latency_to: str = "ledger.posted"
    description: str = ""

    def stage_of(self, entity_type: str, step: str) -> Stage | None:
        """The stage an (entity type, step) completes, if any."""
        for stage in self.stages:
            if stage.entity_type == entity_type and stage.step == step:
                return stage
        return None

    def stage_named(self, name: str) -> Stage | None:
        """The stage called ``name``, if any."""
        return next((s for s in self.stages if s.name == name), None)


@dataclass(frozen=True)
class FlowConfig:
    """Every flow, the default flow and the error-category mapping."""

    flows: dict[str, Flow]
    default_flow: str
    transient: frozenset[str] = field(default_factory=frozenset)
    business: frozenset[str] = field(default_factory=frozenset)
    unknown_is_transient: bool = False
    systems: tuple[str, ...] = ()  # systems the estate is known to have (listed even before their first hop)

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


def _flow(name: str, node: Node, source: str) -> Flow:
    keys = _mapping(node, source, f"flow {name!r}", {"description", "end_to_end_sla", "posting_latency", "stages"})
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
    keys = _mapping(root, source, "the document", {"default_flow", "error_categories", "flows", "systems"})
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
    return FlowConfig(flows, default, transient, business, unknown, systems)


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
