"""Silences with Alertmanager's schema: matchers, start, end, author and comment."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from pydantic import BaseModel, Field, model_validator


class Matcher(BaseModel):
    """``name`` equals (or, with isRegex, fully matches) ``value``; isEqual=false negates."""

    name: str = Field(min_length=1)
    value: str
    isRegex: bool = False  # noqa: N815 - Alertmanager's field names
    isEqual: bool = True  # noqa: N815

    def matches(self, labels: dict[str, str]) -> bool:
        """True when the label set satisfies this matcher (a missing label is empty)."""
        actual = labels.get(self.name, "")
        hit = re.fullmatch(self.value, actual) is not None if self.isRegex else actual == self.value
        return hit == self.isEqual


class Silence(BaseModel):
    """A silence; ``id`` is assigned on creation."""

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    matchers: list[Matcher] = Field(min_length=1)
    startsAt: datetime  # noqa: N815
    endsAt: datetime  # noqa: N815
    createdBy: str = Field(min_length=1)  # noqa: N815
    comment: str = Field(min_length=1)

    @model_validator(mode="after")
    def _order(self) -> Silence:
        if self.endsAt <= self.startsAt:
            raise ValueError("endsAt must be after startsAt")
        for m in self.matchers:
            if m.isRegex:
                re.compile(m.value)
        return self

    def state(self, now_ms: int) -> str:
        """``pending``, ``active`` or ``expired`` at ``now_ms``."""
        if now_ms < ms(self.startsAt):
            return "pending"
        return "active" if now_ms < ms(self.endsAt) else "expired"

    def silences(self, labels: dict[str, str], now_ms: int) -> bool:
        """True when active and every matcher matches."""
        return self.state(now_ms) == "active" and all(m.matches(labels) for m in self.matchers)


def ms(at: datetime) -> int:
    """Epoch milliseconds of an aware (or UTC-naive) datetime."""
    from datetime import UTC

    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return int(at.timestamp() * 1000)
