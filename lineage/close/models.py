"""Response models of the close routes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Money(BaseModel):
    currency: str | None
    amount: float


class CategoryGroup(BaseModel):
    category: str | None
    recoverable: bool
    count: int
    money: list[Money]


class Group(BaseModel):
    count: int
    money: list[Money]
    blocking: bool
    items: list[dict[str, Any]]
    truncated: bool
    by_category: list[CategoryGroup] | None = None
    oldest: str | None = None


class Groups(BaseModel):
    not_posted: Group
    cut_off: Group
    open_exceptions: Group
    replays: Group
    reconciliation_breaks: Group
    missing_journals: Group
    unsealed: Group


class Malformed(BaseModel):
    """Hops counted in the period by their hop time: their business date could not be read."""

    count: int
    items: list[dict[str, Any]]
    truncated: bool


class Round(BaseModel):
    round: int
    action: str  # prepared | reviewed
    subject: str
    at: str


class HopChange(BaseModel):
    """Hops of the period one way changed since sign-off: how many, the first 100."""

    count: int
    items: list[dict[str, Any]]  # trace_id, span_id, correlation_id


class SignOff(BaseModel):
    rounds: list[Round]
    certificate_round: int | None = None
    changed: list[str] | None = None  # what changed since the certificate (decertified)
    hops: dict[str, HopChange] | None = Field(
        None, description="With a certificate: the period's hops added, removed and altered since sign-off."
    )


class Gate(BaseModel):
    legal_entity: str
    period: str
    time_zone: str
    start: str
    end: str
    deadline: str
    days_to_deadline: int
    status: str  # open | blocked | ready | signed | decertified
    blocking: list[str]
    groups: Groups
    malformed_business_dates: Malformed
    sign_off: SignOff | None = None


class Gates(BaseModel):
    period: str
    gates: list[Gate]
