"""Answers of the insights routes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from lineage.api.context import ContextOut
from lineage.api.models import LATE

RiskKind = Literal["open_exceptions", "stuck", "failed", "breached"]


class StageOut(BaseModel):
    name: str
    entity_type: str
    step: str
    sla_ms: int | None = Field(description="Stage SLA from the previous completed stage; null: none.")
    required: bool


class FlowOut(BaseModel):
    name: str
    description: str
    default: bool = Field(description="True for the flow of hops without (or with an unknown) flow.")
    end_to_end_sla_ms: int | None
    latency_from: str
    latency_to: str
    stages: list[StageOut]


class Flows(BaseModel):
    flows: list[FlowOut]


class SystemOut(BaseModel):
    system: str
    hops: int = Field(description="Hops the system reported in the window (0: named in the flows file only).")
    last_seen: str | None


class Systems(BaseModel):
    systems: list[SystemOut]
    truncated: bool


class Me(BaseModel):
    subject: str
    role: str
    via: str
    scope: dict[str, list[str]]
    permissions: list[str]


class Known(BaseModel):
    """What a client's pickers offer and how fresh the data is, in one answer."""

    flows: list[FlowOut]
    systems: list[SystemOut] = Field(description="As GET /systems?since=30d.")
    regions: list[str] = Field(description="Regions the figure routes know (in scope, 92 days).")
    legal_entities: list[str] = Field(description="Legal entities the figure routes know (in scope, 92 days).")
    me: Me = Field(description="As GET /whoami.")
    newest_hop: str | None = Field(description="The last hop any system in scope reported in 30 days.")
    truncated: bool


class RiskItem(BaseModel):
    kind: RiskKind
    business_key: str
    correlation_id: str
    amount: float | None
    currency: str | None
    system: str
    region: str | None
    age_ms: int
    detail: str = Field(description="Status, or exception category and step.")
    exception_id: str | None
    flow: str | None = Field(None, description="The transaction's flow; null for exceptions (not per flow).")


class RiskTotal(BaseModel):
    kind: RiskKind
    group: str | None = Field(description="System or region (by_system, by_region); null in totals.")
    currency: str | None
    amount: float
    count: int


class AtRisk(BaseModel):
    items: list[RiskItem]
    totals: list[RiskTotal]
    by_system: list[RiskTotal]
    by_region: list[RiskTotal]
    as_of: str
    truncated: bool = Field(description="More items than ``limit``, or the parts hit the store's row limit.")
    totals_truncated: bool = Field(description="The totals miss items: the parts hit the store's row limit.")
    context: ContextOut


class Money(BaseModel):
    currency: str | None = Field(description="null: items whose amount is unknown")
    amount: float
    count: int


class Card(BaseModel):
    count: int = Field(description="Items of this kind: the drill-down list of the same context has this many.")
    amounts: list[Money]


class Posting(BaseModel):
    flow: str
    count: int = Field(description="Postings completed in the window (throughput).")
    p95_ms: float | None
    over_sla: int
    sla_ms: int | None


class SeriesPoint(BaseModel):
    bucket: str
    count: int
    p95_ms: float | None
    late: int = Field(0, description=LATE)


class Worst(BaseModel):
    group: str | None
    count: int
    amounts: list[Money]


class Slowest(BaseModel):
    group: str | None
    count: int
    p95_ms: float


class MoneyAtRisk(BaseModel):
    totals: list[RiskTotal]
    by_system: list[RiskTotal]
    by_region: list[RiskTotal]


class Overview(BaseModel):
    cards: dict[RiskKind, Card]
    posting: Posting
    series: list[SeriesPoint] = Field(description="Postings and their p95 per bucket (the flow's posting latency).")
    bucket_ms: int
    money_at_risk: MoneyAtRisk
    worst_systems: list[Worst] = Field(description="By open exceptions, most first.")
    worst_regions: list[Worst] = Field(description="By open exceptions, most first.")
    slowest_regions: list[Slowest] = Field(description="By p95 posting latency over the window, slowest first.")
    as_of: str
    truncated: bool = Field(description="The totals miss items (the store's row limit) or the series was cut.")
    context: ContextOut
