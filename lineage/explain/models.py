"""Response models of ``GET /api/v1/explain``."""

from __future__ import annotations

from pydantic import BaseModel

from lineage.api.context import ContextOut


class Money(BaseModel):
    currency: str | None
    amount: float


class DimensionValue(BaseModel):
    dimension: str
    value: str


class ListLink(BaseModel):
    url: str
    exact: bool  # False: the list has the context only (it cannot take this dimension)


class Latency(BaseModel):
    """For "slow": the value's sampled durations beside its baseline's (milliseconds)."""

    median_ms: float | None
    median_baseline_ms: float | None
    p90_ms: float | None
    p90_baseline_ms: float | None
    sampled: int
    sampled_baseline: int


class Finding(BaseModel):
    dimensions: list[DimensionValue]
    selection_count: int
    baseline_count: int
    share_selection: float
    share_baseline: float
    p_value: float
    money_at_risk: list[Money]
    listing: ListLink | None = None  # the list behind the finding
    latency: Latency | None = None  # "slow" only
    explained_by: list[DimensionValue] | None = None  # a top finding whose units hold all its excess


class Selection(BaseModel):
    count: int
    money_at_risk: list[Money]


class Onset(BaseModel):
    dimension: str
    value: str
    how: str  # appeared | jumped
    selection_after: int


class ChangePoint(BaseModel):
    at: str
    bucket_ms: int
    rate_before: float
    rate_after: float
    p_value: float
    values: list[Onset]


class SeriesPoint(BaseModel):
    """One bucket of the window: the subject's units and all units that started in it."""

    at: str
    subject: int
    units: int


class Explanation(BaseModel):
    subject: str
    baseline: str
    unit: str
    stage: str | None
    selection: Selection
    baseline_count: int
    level: float
    test: str
    correction: str
    findings: list[Finding]
    pairs: list[Finding]
    change_point: ChangePoint | None
    bucket_ms: int
    series: list[SeriesPoint]  # the subject's rate over the window, where a change point is drawn
    truncated: bool
    context: ContextOut
