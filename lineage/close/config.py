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


class CloseFile(Section):
    """The close calendar."""

    legal_entities: Annotated[dict[str, EntitySpec], expect(dict, "a mapping")]
    deadline_business_days: int = Field(5, ge=0, le=30)
    materiality: Annotated[dict[Currency, Amount], expect(dict, "a mapping")] = Field(default_factory=dict)
    flows: Annotated[list[Text], expect(list, "a list")] | None = None


@dataclass(frozen=True)
class Entity:
    name: str
    time_zone: str
    currency: str


@dataclass(frozen=True)
class CloseConfig:
    """What a close gate needs: entities, deadline, materiality and the flows that feed it."""

    entities: dict[str, Entity]
    deadline_business_days: int
    materiality: dict[str, float]
    flows: tuple[str, ...]

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
    entities = {n: Entity(n, e.time_zone, e.currency) for n, e in spec.legal_entities.items()}
    return CloseConfig(entities, spec.deadline_business_days, dict(spec.materiality), chosen)


def load_close(flows: FlowConfig, value: str | Path | None = None) -> CloseConfig:
    """The close calendar: ``value`` (a path or inline YAML), else ``$LEDGERLINE_CLOSE``, else the packaged one."""
    chosen: Any = value or os.environ.get("LEDGERLINE_CLOSE") or DEFAULT_PATH
    text, source = source_text(chosen, "close calendar")
    return parse_close(text, source, flows)
