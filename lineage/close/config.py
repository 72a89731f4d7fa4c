"""The close calendar (``LEDGERLINE_CLOSE``, default lineage/close/close.yaml), read by the one
config reader (collector/config.py): a bad file is refused at start with one line,
``file, line N: problem``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field

from collector.config import Amount, Problem, Section, Text, expect, read_yaml, source_text, validate
from lineage.close.errors import CloseConfigError
from lineage.close.periods import parse_period
from lineage.core.flows import FlowConfig

DEFAULT_PATH = Path(__file__).with_name("close.yaml")


def _zone(value: object) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise Problem("{what}: unknown time zone {value!r} (an IANA name, e.g. Europe/Berlin)", value=value) from None
    return str(value)


def _currency(value: object) -> str:
    text = str(value).strip().upper()
    if len(text) != 3 or not text.isalpha():
        raise Problem("{what} must be an ISO 4217 code, e.g. EUR, not {value!r}", value=value)
    return text


Currency = Annotated[str, BeforeValidator(_currency)]


class EntitySpec(Section):
    """A legal entity: the time zone its periods are cut in, and its currency."""

    time_zone: Annotated[str, BeforeValidator(_zone)]
    currency: Currency


def _template(value: object) -> str:
    text = str(value).strip()
    try:
        text.format(legal_entity="LE", period="2026-11")
    except (KeyError, IndexError, ValueError):
        raise Problem(
            "{what}: {value!r} may only name {{legal_entity}} and {{period}}, e.g. ACCR-{{legal_entity}}-{{period}}",
            value=value,
        ) from None
    return text


def _period(value: object) -> str:
    try:
        parse_period(str(value))
    except ValueError as exc:
        raise Problem("{what}: " + str(exc)) from None
    return str(value).strip()


class JournalSpec(Section):
    """A batch journal each period needs (accruals, payroll, depreciation), known by its
    business key: an ok hop of ``step`` and ``entity_type`` whose entity id is ``entity_id``
    with the legal entity and period filled in."""

    entity_type: Text
    step: Text
    entity_id: Annotated[str, BeforeValidator(_template)]
    legal_entities: Annotated[list[Text], expect(list, "a list")] | None = None
    periods: Annotated[list[Annotated[str, BeforeValidator(_period)]], expect(list, "a list")] | None = None
    amount: Amount | None = None


class CloseFile(Section):
    """The close calendar."""

    legal_entities: Annotated[dict[str, EntitySpec], expect(dict, "a mapping")]
    deadline_business_days: int = Field(5, ge=0, le=30)
    materiality: Annotated[dict[Currency, Amount], expect(dict, "a mapping")] = Field(default_factory=dict)
    flows: Annotated[list[Text], expect(list, "a list")] | None = None
    reconciliations: Annotated[list[Text], expect(list, "a list")] | None = None
    expected_journals: Annotated[dict[str, JournalSpec], expect(dict, "a mapping")] = Field(default_factory=dict)


@dataclass(frozen=True)
class Entity:
    name: str
    time_zone: str
    currency: str


@dataclass(frozen=True)
class Journal:
    """An expected batch journal (see ``JournalSpec``); ``periods`` empty: every period."""

    name: str
    entity_type: str
    step: str
    entity_id: str  # a template naming {legal_entity} and {period}
    legal_entities: tuple[str, ...]
    periods: tuple[str, ...]
    amount: float | None

    def expected(self, legal_entity: str, period: str) -> str | None:
        """The entity id expected of ``legal_entity`` for ``period``, or None when none is."""
        if legal_entity not in self.legal_entities or (self.periods and period not in self.periods):
            return None
        return self.entity_id.format(legal_entity=legal_entity, period=period)


@dataclass(frozen=True)
class CloseConfig:
    """What a close gate needs: entities, deadline, materiality, the flows and reconciliations
    that feed it and the batch journals each period expects."""

    entities: dict[str, Entity]
    deadline_business_days: int
    materiality: dict[str, float]
    flows: tuple[str, ...]
    reconciliations: tuple[str, ...] = ()
    journals: tuple[Journal, ...] = ()

    def material(self, currency: str | None, amount: float | None) -> bool:
        """True when ``amount`` is above the currency's materiality (an unknown amount is)."""
        if amount is None:
            return True
        return abs(amount) > self.materiality.get((currency or "").upper(), 0.0)


def parse_close(text: str, source: str, flows: FlowConfig) -> CloseConfig:
    """Parse and validate a close calendar; flows named must exist (default: those posting to the ledger)."""
    doc = read_yaml(text, source, CloseConfigError)
    if doc.data is None:
        raise CloseConfigError(f"{source}: the file is empty")
    spec = validate(CloseFile, doc.data, doc, unique=True)
    if not spec.legal_entities:
        raise doc.error(("legal_entities",), "legal_entities needs at least one legal entity")
    for i, name in enumerate(spec.flows or []):
        if name not in flows.flows:
            known = ", ".join(sorted(flows.flows))
            raise doc.error(("flows", i), f"flows: unknown flow {name!r} (known: {known})")
    chosen = (
        tuple(spec.flows) if spec.flows else tuple(n for n, f in flows.flows.items() if f.latency_to == "ledger.posted")
    )
    for i, name in enumerate(spec.reconciliations or []):
        if name not in flows.reconciliations:
            known = ", ".join(sorted(flows.reconciliations)) or "none"
            raise doc.error(
                ("reconciliations", i), f"reconciliations: unknown reconciliation {name!r} (known: {known})"
            )
    recs = tuple(spec.reconciliations) if spec.reconciliations is not None else tuple(flows.reconciliations)
    entities = {n: Entity(n, e.time_zone, e.currency) for n, e in spec.legal_entities.items()}
    journals = []
    for name, j in spec.expected_journals.items():
        for i, le in enumerate(j.legal_entities or []):
            if le not in entities:
                raise doc.error(("expected_journals", name, "legal_entities", i),
                                f"expected_journals.{name}: unknown legal entity {le!r}")  # fmt: skip
        steps = {(s.entity_type, s.step) for f in flows.flows.values() for s in f.stages}
        if (j.entity_type, j.step) not in steps:
            what = f"expected_journals.{name}: no flow has a stage of {j.entity_type} at {j.step}"
            raise doc.error(("expected_journals", name, "step"), what)
        les = tuple(j.legal_entities) if j.legal_entities else tuple(entities)
        journals.append(Journal(name, j.entity_type, j.step, j.entity_id, les, tuple(j.periods or ()), j.amount))
    return CloseConfig(entities, spec.deadline_business_days, dict(spec.materiality), chosen, recs, tuple(journals))


def load_close(flows: FlowConfig, value: str | Path | None = None) -> CloseConfig:
    """The close calendar: ``value`` (a path or inline YAML), else ``$LEDGERLINE_CLOSE``, else the packaged one."""
    chosen: Any = value or os.environ.get("LEDGERLINE_CLOSE") or DEFAULT_PATH
    text, source = source_text(chosen, "close calendar")
    return parse_close(text, source, flows)
