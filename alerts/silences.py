"""Silences with Alertmanager's schema: matchers, start, end, author and comment."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import re2
from pydantic import BaseModel, Field, PrivateAttr, model_validator

MAX_PATTERN_CHARS = 1024
# RE2's memory budget for one compiled pattern: counted repetitions such as a{1000}{1000}
# fail to compile (422) instead of taking the memory.
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.max_mem = 1 << 20
_RE2_OPTIONS.log_errors = False  # the 422 says it; RE2 would also print to stderr


class Matcher(BaseModel):
    """``name`` equals (or, with isRegex, fully matches) ``value``; isEqual=false negates.

    Regexes have RE2 semantics, as in Alertmanager: matching takes time linear in the
    label's length whatever the pattern, and the pattern is compiled once, when the
    matcher is created (invalid or too large: a validation error, 422 at the API).
    """

    name: str = Field(min_length=1)
    value: str = Field(max_length=MAX_PATTERN_CHARS)
    isRegex: bool = False  # noqa: N815 - Alertmanager's field names
    isEqual: bool = True  # noqa: N815
    _pattern: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _compile(self) -> Matcher:
        if self.isRegex:
            try:
                self._pattern = re2.compile(self.value, _RE2_OPTIONS)
            except re2.error as exc:
                reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else exc
                raise ValueError(f"invalid regular expression {self.value!r} for {self.name!r}: {reason}") from None
        return self

    def matches(self, labels: dict[str, str]) -> bool:
        """True when the label set satisfies this matcher (a missing label is empty)."""
        actual = labels.get(self.name, "")
        hit = self._pattern.fullmatch(actual) is not None if self.isRegex else actual == self.value
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
