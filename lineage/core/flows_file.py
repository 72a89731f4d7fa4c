"""The flows file (``LEDGERLINE_FLOWS``, default lineage/core/flows.yaml) as pydantic models.

Read and validated by the one config reader (collector/config.py): a bad file is refused
with one line, ``file, line N: problem``, in the words below. lineage/core/flows.py turns a valid
file into the Flow, Kpi and Reconciliation types the rest of lineage uses.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from collector.config import Amount, Loc, Problem, Section, Text, expect
from collector.config import name_of as key_name
from lineage.core.timeparse import parse_seconds

POSTING_LATENCY = "posting_latency"
KPI_KINDS = ("latency", "throughput", "failure_rate")
_KPI_KEYS = {
    "latency": ("from", "to", "match", "objective"),
    "throughput": ("step", "per"),
    "failure_rate": ("step", "objective"),
}


def _duration(value: object) -> float:
    try:
        return parse_seconds(value)
    except ValueError as exc:
        raise Problem("{what}: {error}", error=exc) from None


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("true", "false", "yes", "no"):
        raise Problem("{what} must be true or false, not {value!r}", value=text)
    return text in ("true", "yes")


def _percent(value: object) -> float:
    try:
        number = float(str(value).strip().rstrip("%").strip())
    except ValueError:
        raise Problem("{what} must be a percentage, e.g. 95 or 2%") from None
    if not 0 < number < 100:
        raise Problem("{what} must be between 0 and 100 (exclusive), not {number}", number=number)
    return number


def _one_of(*choices: str) -> BeforeValidator:
    def check(value: object) -> str:
        text = str(value).strip()
        if text not in choices:
            raise Problem("{what} must be one of {choices}, not {value!r}", choices=", ".join(choices), value=text)
        return text

    return BeforeValidator(check)


Duration = Annotated[float, BeforeValidator(_duration)]
Bool = Annotated[bool, BeforeValidator(_bool)]
Percent = Annotated[float, BeforeValidator(_percent)]
Texts = Annotated[list[Text], expect(list, "a list")]


def name_of(loc: Loc) -> str:
    """How a message names the part of the flows file at ``loc``."""
    match loc:
        case ("flows", str(flow)):
            return f"flow {flow!r}"
        case ("flows", str(flow), "kpis"):
            return f"kpis of flow {flow!r}"
        case ("flows", _, "kpis", str(kpi), *rest):
            return " ".join([f"kpi {kpi!r}", ".".join(map(str, rest))]).strip()
        case ("flows", _, "stages", int()):
            return "stage"
        case ("flows", _, "stages", int(), "name"):
            return "stage name"
        case ("flows", _, "posting_latency", *rest):
            return ".".join(map(str, ["posting_latency", *rest]))
        case ("reconciliations", str(name), *rest):
            return " ".join([f"reconciliation {name!r}", ".".join(map(str, rest))]).strip()
    return key_name(loc)


class StageSpec(Section):
    """A stage: complete when an ``entity_type`` hop reports ``step`` with outcome ok."""

    name: Text
    entity_type: Text
    step: Text
    sla: Duration | None = None
    required: Bool = True


class LatencySpec(Section):
    """The flow's posting latency: from the ``from`` hop of an entity to the ``to`` hop naming it as parent."""

    from_: Text = Field(alias="from")
    to: Text


class ObjectiveSpec(Section):
    """A latency KPI's objective (``percent`` of them within ``target``); a failure rate's
    objective is a percentage alone, read as ``percent``."""

    target: Duration | None = None
    percent: Percent | None = None


class KpiSpec(Section):
    """A named KPI; which keys it takes depends on its ``kind``."""

    kind: Literal["latency", "throughput", "failure_rate"]
    from_: Text | None = Field(None, alias="from")
    to: Text | None = None
    match: Annotated[str, _one_of("parent", "correlation")] = "parent"
    step: Text | None = None
    per: Duration = 3600.0
    objective: ObjectiveSpec | None = None
    description: Text = ""

    @classmethod
    def allowed_keys(cls, data: dict[Any, Any]) -> dict[str, bool]:
        """``kind`` first; then the kind's keys (``from``/``to`` or ``step`` required)."""
        if "kind" not in data:
            raise Problem("{what} is missing 'kind' ({kinds})", kinds=", ".join(KPI_KINDS))
        kind = data["kind"]
        if kind not in _KPI_KEYS:
            raise Problem(
                "{what} kind must be one of {kinds}, not {kind!r}", "kind", kinds=", ".join(KPI_KINDS), kind=kind
            )
        return {key: key in ("kind", "from", "to", "step") for key in ("kind", *_KPI_KEYS[kind], "description")}

    @field_validator("objective", mode="before")
    @classmethod
    def _objective_form(cls, value: Any, info: ValidationInfo) -> Any:
        if info.data.get("kind") == "latency":
            if not isinstance(value, dict):
                raise Problem("{what} must be a mapping")
            return value
        if isinstance(value, dict):
            raise Problem("{what} must be a percentage, e.g. 95 or 2%")
        return {"percent": _percent(value)}

    @field_validator("per")
    @classmethod
    def _positive(cls, per: float) -> float:
        if per <= 0:
            raise Problem("{what} must be positive")
        return per

    @model_validator(mode="after")
    def _objective_complete(self) -> KpiSpec:
        latency = self.objective if self.kind == "latency" else None
        if latency is not None and (latency.target is None or latency.percent is None):
            raise Problem("{what} objective needs 'target' and 'percent'", "objective")
        return self


class FlowSpec(Section):
    """An ordered list of stages with SLAs, the posting-latency step pair and named KPIs."""

    stages: Annotated[list[StageSpec], expect(list, "a list")] = Field(default_factory=list)
    posting_latency: LatencySpec | None = None
    end_to_end_sla: Duration | None = None
    description: Text = ""
    kpis: Annotated[dict[str, KpiSpec], expect(dict, "a mapping")] = Field(default_factory=dict)

    @field_validator("kpis", mode="before")
    @classmethod
    def _built_in(cls, kpis: Any) -> Any:
        if isinstance(kpis, dict) and POSTING_LATENCY in kpis:
            raise Problem(
                "kpi {name!r} is built in: set the flow's posting_latency", POSTING_LATENCY, name=POSTING_LATENCY
            )
        return kpis

    @model_validator(mode="after")
    def _steps(self) -> FlowSpec:
        """Stages exist and have unique names; posting latency and KPIs name steps of stages."""
        if not self.stages:
            raise Problem("{what} needs a non-empty list of stages", "stages")
        names: set[str] = set()
        for i, stage in enumerate(self.stages):
            if stage.name in names:
                raise Problem("duplicate stage name {name!r} in {what}", "stages", i, name=stage.name)
            names.add(stage.name)
        steps = {s.step for s in self.stages}
        if self.posting_latency is not None:
            for end, step in (("from", self.posting_latency.from_), ("to", self.posting_latency.to)):
                if step not in steps:
                    problem = "posting_latency.{end} {step!r} is not the step of a stage"
                    raise Problem(problem, "posting_latency", end, end=end, step=step)
        for name, kpi in self.kpis.items():
            for key, named in (("from", kpi.from_), ("to", kpi.to), ("step", kpi.step)):
                if named is not None and named not in steps:
                    problem = "kpi {kpi!r} {key}: {step!r} is not the step of a stage"
                    raise Problem(problem, "kpis", name, key, kpi=name, key=key, step=named)
        return self


class CategoriesSpec(Section):
    """Which error categories are transient (a retry may succeed) and which business rules."""

    transient: Texts = Field(default_factory=list)
    business: Texts = Field(default_factory=list)
    unknown_is_transient: Bool = False

    @model_validator(mode="after")
    def _disjoint(self) -> CategoriesSpec:
        both = set(self.transient) & set(self.business)
        if both:
            raise Problem("categories both transient and business: {both}", both=sorted(both))
        return self


class SideSpec(Section):
    """One side of a reconciliation: ok hops of ``step`` by ``entity_type`` (in ``system``)."""

    step: Text
    entity_type: Text
    system: Text = ""


class ReconciliationSpec(Section):
    """Two steps in different systems that must agree, matched by parent or by key."""

    left: SideSpec
    right: SideSpec
    match: Annotated[str, _one_of("parent", "key")] = "parent"
    tolerance: Amount = 0.01
    description: Text = ""

    @model_validator(mode="after")
    def _two_sides(self) -> ReconciliationSpec:
        if self.left == self.right:
            raise Problem("{what} compares a step with itself")
        return self


class FlowsFile(Section):
    """The whole file."""

    flows: Annotated[dict[str, FlowSpec], expect(dict, "a mapping")]
    default_flow: Text | None = None
    error_categories: CategoriesSpec = Field(default_factory=CategoriesSpec)
    systems: Texts = Field(default_factory=list)
    reconciliations: Annotated[dict[str, ReconciliationSpec], expect(dict, "a mapping")] = Field(default_factory=dict)

    @field_validator("flows")
    @classmethod
    def _some(cls, flows: dict[str, FlowSpec]) -> dict[str, FlowSpec]:
        if not flows:
            raise Problem("define at least one flow")
        return flows

    @model_validator(mode="after")
    def _default_defined(self) -> FlowsFile:
        if self.default_flow is not None and self.default_flow not in self.flows:
            raise Problem("default_flow {name!r} is not a defined flow", "default_flow", name=self.default_flow)
        return self
