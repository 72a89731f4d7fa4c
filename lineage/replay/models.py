"""Pydantic models of the replay routes' bodies and answers."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ReplayIn(BaseModel):
    """Why the exception is replayed (kept in the audit trail)."""

    reason: str = Field(min_length=1, max_length=2000)


class NoteIn(BaseModel):
    note: str = Field("", max_length=2000)


class BulkFilter(BaseModel):
    category: str = Field("", max_length=200)
    system: str = Field("", max_length=200)
    since: str = Field("24h", max_length=64, description="ISO-8601 or a duration ago")
    until: str = Field("", max_length=64, description="ISO-8601 or a duration ago; default now")


class BulkIn(BaseModel):
    """A filter over the exception backlog; ``dry_run`` only counts."""

    filter: BulkFilter = Field(default_factory=BulkFilter)
    dry_run: bool = False
    reason: str = Field("", max_length=2000)


class HistoryOut(BaseModel):
    state: str
    actor: str
    note: str
    at: str | None


class ReplayOut(BaseModel):
    id: str
    state: str = Field(description="awaiting_approval, approved, sent, delivered, failed, confirmed or cancelled")
    exception_id: str
    correlation_id: str
    flow: str
    entity_type: str
    entity_id: str
    step: str
    system: str
    category: str
    amount: float | None
    currency: str | None
    requested_by: str
    approved_by: str | None
    reason: str
    attempts: int
    last_error: str | None
    trace_id: str
    confirmed_by_span: str | None
    created_at: str | None
    updated_at: str | None
    history: list[HistoryOut] | None = None


class ReplayList(BaseModel):
    replays: list[ReplayOut]
    truncated: bool


class Refusal(BaseModel):
    exception_id: str
    reason: str


class BulkOut(BaseModel):
    dry_run: bool
    count: int = Field(description="Exceptions replayed (or that would be)")
    amount_by_currency: dict[str, float]
    refused_count: int
    refused: list[Refusal] = Field(description="The first 100 refusals with their reason")
    truncated: bool = Field(description="The filter matched more exceptions than one bulk replay covers")
    replays: list[ReplayOut]
