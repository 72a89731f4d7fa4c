"""Flow definitions: the types lineage works with, loaded from the flows YAML. Pure, no I/O
beyond reading the file.

The file's schema is lineage/core/flows_file.py, validated by the one config reader
(collector/config.py): errors name the file, the line and the problem, so a bad file is
refused at start with a message an operator can act on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from collector.config import read_yaml, validate
from collector.store.errors import ConfigError
from lineage.core.flows_file import POSTING_LATENCY, FlowsFile, FlowSpec, KpiSpec, ReconciliationSpec, name_of

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


def parse_flows(text: str, source: str = "<flows>") -> FlowConfig:
    """Parse and validate a flows document (lineage/core/flows_file.py); raise FlowConfigError naming the line."""
    doc = read_yaml(text, source, FlowConfigError)
    if doc.data is None:
        raise FlowConfigError(f"{source}: the file is empty")
    spec = validate(FlowsFile, doc.data, doc, names=name_of, unique=True)
    flows = {name: _flow(name, flow) for name, flow in spec.flows.items()}
    categories = spec.error_categories
    return FlowConfig(
        flows,
        spec.default_flow or next(iter(flows)),
        frozenset(categories.transient),
        frozenset(categories.business),
        categories.unknown_is_transient,
        tuple(sorted(set(spec.systems))),
        {name: _reconciliation(name, rec) for name, rec in spec.reconciliations.items()},
    )


def _flow(name: str, spec: FlowSpec) -> Flow:
    latency = spec.posting_latency
    return Flow(
        name=name,
        stages=tuple(Stage(s.name, s.entity_type, s.step, s.sla, s.required) for s in spec.stages),
        end_to_end_sla_s=spec.end_to_end_sla,
        latency_from=latency.from_ if latency else "invoice.issued",
        latency_to=latency.to if latency else "ledger.posted",
        description=spec.description,
        kpis=tuple(_kpi(kpi, kpi_spec) for kpi, kpi_spec in spec.kpis.items()),
    )


def _kpi(name: str, spec: KpiSpec) -> Kpi:
    objective = spec.objective
    latency = objective if spec.kind == "latency" else None
    rate = objective.percent if spec.kind == "failure_rate" and objective else None
    return Kpi(
        name,
        spec.kind,
        from_step=spec.from_ or "",
        to_step=spec.to or "",
        match=spec.match,
        step=spec.step or "",
        per_s=spec.per,
        objective_s=latency.target if latency else None,
        objective_percent=latency.percent if latency else None,
        objective_rate=rate / 100 if rate is not None else None,
        description=spec.description,
    )


def _reconciliation(name: str, spec: ReconciliationSpec) -> Reconciliation:
    left, right = (Side(s.step, s.entity_type, s.system) for s in (spec.left, spec.right))
    return Reconciliation(name, left, right, spec.match, spec.tolerance, spec.description)


def load_flows(path: Path | str | None = None) -> FlowConfig:
    """Load the flows file: ``path``, else ``$LEDGERLINE_FLOWS``, else the packaged default."""
    chosen = Path(path or os.environ.get("LEDGERLINE_FLOWS") or DEFAULT_PATH)
    try:
        text = chosen.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlowConfigError(f"{chosen}: cannot read the flows file: {exc.strerror}") from None
    return parse_flows(text, str(chosen))
