"""Pydantic models of the API's answers and request bodies (separate from the SQL rows)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from lineage.api.context import ContextOut
from lineage.replay.models import ReplayOut


class Attempt(BaseModel):
    outcome: str
    error_category: str | None
    start_time: str
    end_time: str
    trace_id: str
    span_id: str


class Hop(BaseModel):
    """One entity and step; retries folded into ``attempts``."""

    entity_type: str
    entity_id: str
    step: str
    system: str
    outcome: str = Field(description="Outcome of the latest attempt.")
    start_time: str = Field(description="Start of the first attempt.")
    end_time: str = Field(description="End of the latest attempt.")
    duration_ms: int
    attempts: int
    trace_id: str
    span_id: str
    correlation_id: str
    error_category: str | None
    amount: float | None
    currency: str | None
    compensates: str | None = Field(None, description="type:id of the entity this hop reverses (a compensation).")
    compensated_by: list[str] = Field(
        default_factory=list, description="Compensating hops (entity and step) that reverse this hop's entity."
    )
    attempt_list: list[Attempt]


class Node(BaseModel):
    entity_type: str
    entity_id: str


class Edge(BaseModel):
    parent_type: str
    parent_id: str
    child_type: str
    child_id: str


class Related(BaseModel):
    """A transaction stitched to this one through entity edges or span links."""

    correlation_id: str
    depth: int
    via: str
    flow: str | None
    status: str | None


class SlaStage(BaseModel):
    stage: str
    entity_type: str
    step: str
    state: str = Field(description="done, open, pending (an earlier stage is open) or missing (skipped).")
    required: bool
    sla_ms: int | None
    started_at: str | None = Field(description="When the stage's SLA clock started.")
    completed_at: str | None
    duration_ms: int | None
    breached: bool
    due_at: str | None
    time_left_ms: int | None = Field(description="Open stages: time left; negative when overdue.")


class EndToEnd(BaseModel):
    sla_ms: int | None
    elapsed_ms: int | None
    breached: bool


class Sla(BaseModel):
    breached: bool
    end_to_end: EndToEnd
    stages: list[SlaStage]


class Conformance(BaseModel):
    kind: str = Field(description="missing_stage, out_of_order or duplicate_posting.")
    stage: str
    detail: str


class AmountMismatch(BaseModel):
    entity_type: str
    entity_id: str
    step: str
    amount: float | None
    currency: str
    expected_amount: float | None
    expected_currency: str


class HistoryEntry(BaseModel):
    action: str
    actor: str
    note: str
    at: str


class TicketLink(BaseModel):
    """A ticket opened for an exception (ServiceNow, Jira: docs/tickets.md)."""

    receiver: str
    key: str = Field(description="The ticket's number or key, e.g. INC0010001 or OPS-7.")
    url: str


class ExceptionOut(BaseModel):
    """A failed, retried or dead-lettered entity/step; id is stable."""

    id: str
    entity_type: str
    entity_id: str
    business_key: str = Field(description="entity_type:entity_id")
    step: str
    correlation_id: str
    system: str
    region: str | None
    category: str | None
    amount: float | None = Field(None, description="the entity's amount (its latest hop with one); null: unknown")
    currency: str | None = None
    recoverable: bool
    last_outcome: str
    message: str | None
    state: str = Field(description="open, acknowledged or resolved.")
    first_seen: str
    last_seen: str
    resolved_at: str | None
    attempts: int
    age_ms: int
    tickets: list[TicketLink] = Field(default_factory=list, description="Tickets opened for it, oldest first.")
    history: list[HistoryEntry] | None = None


class Transaction(BaseModel):
    correlation_id: str
    flow: str
    status: str = Field(description="complete, in_flight, stuck or failed.")
    started_at: str
    completed_at: str | None
    last_activity_at: str
    hops: list[Hop]
    hops_truncated: bool
    withheld_hops: int = Field(
        description="Hops (entity and step) of this correlation ID outside the caller's scope: counted, not shown."
    )
    nodes: list[Node]
    edges: list[Edge]
    edges_omitted: int
    related_correlation_ids: list[str]
    related: list[Related]
    related_omitted: int = Field(
        description="Stitched correlation IDs in scope left out by the depth/fan-out limits "
        "(those reachable only through hops outside the scope are not counted)."
    )
    sla: Sla
    conformance: list[Conformance]
    amount_mismatches: list[AmountMismatch]
    exceptions: list[ExceptionOut]
    replays: list[ReplayOut] = Field(
        default_factory=list, description="Replays of this transaction's exceptions (see /api/v1/replays)."
    )


class EntityTransactions(BaseModel):
    entity_type: str
    entity_id: str
    correlation_ids: list[str]
    truncated: bool
    transactions: list[Transaction]


class SearchResult(BaseModel):
    query: str
    found_as: Literal["correlation_id", "business_key"]
    keys: list[str]
    correlation_ids: list[str]
    truncated: bool
    transactions: list[Transaction]


class TransactionSummary(BaseModel):
    correlation_id: str
    flow: str
    status: str
    started_at: str
    completed_at: str | None
    last_activity_at: str
    sla_breached: bool


class TransactionList(BaseModel):
    transactions: list[TransactionSummary]
    truncated: bool
    context: ContextOut


class ExceptionList(BaseModel):
    exceptions: list[ExceptionOut]
    truncated: bool
    context: ContextOut


class ActionIn(BaseModel):
    """Why an exception is acknowledged or resolved; who does it is the authenticated caller."""

    actor: str | None = Field(
        None,
        max_length=200,
        deprecated=True,
        description="Ignored: accepted for compatibility; the authenticated subject is recorded.",
    )
    note: str = Field("", max_length=4000)


LATE = (
    "Postings (entity-steps) of this bucket first stored more than LEDGERLINE_BUSINESS_METRICS_LAG after the "
    "bucket ended: late postings that changed it after it closed."
)


class LatencyBucket(BaseModel):
    bucket: str
    group: str | None
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    late: int = Field(0, description=LATE)


class Bin(BaseModel):
    lower_ms: int
    upper_ms: int | None = Field(description="Exclusive upper edge; null for the open last bin.")
    count: int


class LatencyHistogram(BaseModel):
    flow: str
    from_step: str
    to_step: str
    count: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: int | None
    sla_ms: int | None = Field(description="The flow's SLA of the stage ending in to_step, if any.")
    over_sla: int
    bins: list[Bin]
    truncated: bool = Field(description="Always false: every posting is counted into a fixed set of bins.")
    context: ContextOut


class PostingLatency(BaseModel):
    flow: str
    from_step: str
    to_step: str
    bucket_ms: int
    group_by: str | None
    buckets: list[LatencyBucket]
    truncated: bool
    context: ContextOut
    histogram: LatencyHistogram | None = Field(
        None, description="With histogram=true: GET /metrics/posting-latency/histogram's answer for the same context."
    )


class ThroughputBucket(BaseModel):
    bucket: str
    stage: str
    group: str | None
    completed: int
    late: int = Field(0, description=LATE)


class Throughput(BaseModel):
    flow: str
    bucket_ms: int
    group_by: str | None
    buckets: list[ThroughputBucket]
    truncated: bool
    context: ContextOut


class BacklogPoint(BaseModel):
    bucket: str
    category: str | None
    open: int


class AgeBuckets(BaseModel):
    category: str | None
    lt_1h: int
    h1_to_4h: int
    h4_to_24h: int
    gt_24h: int


class Backlog(BaseModel):
    bucket_ms: int
    series: list[BacklogPoint]
    age_now: list[AgeBuckets]
    context: ContextOut


class Breach(BaseModel):
    correlation_id: str
    business_key: str | None = Field(None, description="The transaction's first entity, type:id.")
    amount: float | None = Field(None, description="The transaction's amount (its latest hop with one).")
    currency: str | None = None
    flow: str
    stage: str
    kind: str = Field(description="late_complete, open_overdue or end_to_end.")
    sla_ms: int | None
    due_at: str | None
    completed_at: str | None
    duration_ms: int | None
    overdue_ms: int | None


class Breaches(BaseModel):
    late_complete: int
    open_overdue: int
    end_to_end: int
    breaches: list[Breach]
    truncated: bool
    context: ContextOut
