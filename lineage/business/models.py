"""Pydantic models of the flow answers: KPIs, waiting queues and reconciliations."""

from __future__ import annotations

from pydantic import BaseModel, Field

from lineage.api.context import ContextOut


class KpiBucket(BaseModel):
    bucket: str
    group: str | None
    count: int = Field(description="Measurements (latency), entities (throughput) or attempts (failure_rate).")
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    over_target: int | None = Field(None, description="Latency measurements over the objective's target.")
    failed: int | None = None
    rate: float | None = Field(None, description="Throughput per the KPI's 'per', or the failure ratio (0-1).")
    within_objective: bool | None = None
    late: int = Field(
        0,
        description="Measured hops first stored more than LEDGERLINE_BUSINESS_METRICS_LAG after the bucket ended: "
        "late postings that changed this closed bucket.",
    )


class KpiObjective(BaseModel):
    target_ms: int | None = None
    percent: float | None = None
    max_rate: float | None = None


class KpiSeries(BaseModel):
    flow: str
    name: str
    kind: str
    description: str | None
    from_step: str | None = None
    to_step: str | None = None
    match: str | None = None
    step: str | None = None
    per_ms: int | None = None
    objective: KpiObjective | None = None
    buckets: list[KpiBucket]
    truncated: bool


class Kpis(BaseModel):
    since: str
    until: str
    bucket_ms: int
    group_by: str | None
    kpis: list[KpiSeries]
    context: ContextOut


class Amount(BaseModel):
    currency: str | None
    amount: float


class WaitingItem(BaseModel):
    business_key: str
    entity_type: str
    entity_id: str
    amount: float | None
    currency: str | None
    system: str
    legal_entity: str | None
    completed_previous_at: str | None
    age_ms: int
    correlation_id: str


class WaitingStage(BaseModel):
    stage: str
    after: str = Field(description="The previous stage: these entities completed it.")
    step: str
    waiting_since_step: str
    count: int
    amounts: list[Amount]
    oldest_age_ms: int | None
    items: list[WaitingItem]
    truncated: bool


class Waiting(BaseModel):
    flow: str
    since: str | None
    until: str | None
    stages: list[WaitingStage]
    context: ContextOut


class RecSide(BaseModel):
    step: str
    entity_type: str
    system: str | None


class ReconciliationOut(BaseModel):
    name: str
    description: str | None
    left: RecSide
    right: RecSide
    match: str
    tolerance: float


class ReconciliationList(BaseModel):
    reconciliations: list[ReconciliationOut]


class SideTotal(BaseModel):
    count: int
    amount: float


class BreakTotals(BaseModel):
    left_only: int
    right_only: int
    amount_mismatch: int
    currency_mismatch: int


class BreakAmounts(BaseModel):
    left_only: float
    right_only: float
    amount_difference: float = Field(description="Right minus left over the amount mismatches.")


class DriftBucket(BaseModel):
    bucket: str
    legal_entity: str | None
    currency: str | None
    left: SideTotal
    right: SideTotal
    matched: int
    compensated: int = Field(description="Pairs involving a compensation (netted, not breaks unless they disagree).")
    breaks: BreakTotals
    break_count: int
    break_amounts: BreakAmounts


class Drift(ReconciliationOut):
    since: str | None
    until: str | None
    bucket_ms: int
    group_by: str | None
    buckets: list[DriftBucket]
    truncated: bool
    context: ContextOut


class BreakOut(BaseModel):
    key: str
    kind: str
    at: str | None
    legal_entity: str | None
    left_entity: str | None
    right_entities: list[str]
    left_amount: float | None
    right_amount: float | None
    left_currency: str | None
    right_currency: str | None
    compensated: bool
    correlation_ids: list[str] = Field(description="Open each in /api/v1/transactions/{correlation_id}.")


class Breaks(BaseModel):
    name: str
    since: str | None
    until: str | None
    breaks: list[BreakOut]
    truncated: bool
    context: ContextOut
