"""The replay state machine, refusals, backoff and the per-target rate limit. Pure: no I/O.

::

    awaiting_approval --approve--> approved --attempt--> sent --delivered--> delivered
          |                           |                   |  \\--retry (backoff)--> sent
          +--------cancel-------------+                   +--give up--> failed
                                                   sent|delivered|failed --confirm--> confirmed

A replay is "in flight" from its creation until it is confirmed, failed or cancelled;
while one is, no other replay of the same exception may be created. A failed replay is
still confirmed when an ``ok`` hop for its entity and step arrives later (the owning system
posted after all, e.g. by retrying on its own).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from lineage.auth.principal import same_subject
from lineage.replay.errors import Refused

STATES = ("awaiting_approval", "approved", "sent", "delivered", "failed", "confirmed", "cancelled")
IN_FLIGHT = frozenset({"awaiting_approval", "approved", "sent", "delivered"})
FINAL = frozenset({"failed", "confirmed", "cancelled"})

# event -> (states it may happen in, state it leads to)
_TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "approve": (frozenset({"awaiting_approval"}), "approved"),
    "cancel": (frozenset({"awaiting_approval", "approved"}), "cancelled"),
    "attempt": (frozenset({"approved", "sent"}), "sent"),
    "delivered": (frozenset({"sent"}), "delivered"),
    "retry": (frozenset({"sent"}), "sent"),
    "give_up": (frozenset({"sent"}), "failed"),
    "confirm": (frozenset({"sent", "delivered", "failed"}), "confirmed"),
    "supersede": (frozenset({"approved"}), "cancelled"),
}


def initial_state(needs_approval: bool) -> str:
    """Where a new replay starts."""
    return "awaiting_approval" if needs_approval else "approved"


def transition(state: str, event: str) -> str:
    """The state after ``event``; Refused (409) when ``state`` does not allow it."""
    allowed, target = _TRANSITIONS[event]
    if state not in allowed:
        raise Refused(f"cannot {event.replace('_', ' ')} a replay that is {state}")
    return target


def check_approver(requested_by: str, approver: str) -> None:
    """Four-eyes: the approver must be another subject than the requester (403)."""
    if same_subject(requested_by, approver):
        raise Refused("four-eyes: the approver must be someone other than the requester", status=403)


@dataclass(frozen=True)
class Candidate:
    """What the refusal rules look at for one exception."""

    state: str  # exception state: open, acknowledged, resolved
    category: str
    system: str
    succeeded: bool  # an ok hop exists for the entity and step
    in_flight: str | None  # id of a replay of this exception still in flight
    has_target: bool
    replayable_categories: frozenset[str]


def refusal(c: Candidate) -> str | None:
    """Why this exception may not be replayed now, or None (each reason is a 409)."""
    if c.succeeded:
        return "the entity and step already succeeded; a replay would post twice"
    if c.state == "resolved":
        return "the exception is resolved"
    if c.in_flight:
        return f"replay {c.in_flight} of this exception is already in flight"
    if not c.has_target:
        return f"no replay target for system {c.system!r}"
    if c.category not in c.replayable_categories:
        return f"category {c.category or '(none)'!r} is not replayable for system {c.system!r}"
    return None


def backoff_s(attempt: int, base_s: float, max_s: float) -> float:
    """Delay after failed attempt number ``attempt`` (1-based): doubling, capped."""
    return float(min(max_s, base_s * 2 ** max(0, attempt - 1)))


class RateLimit:
    """At most ``per_minute`` sends in any 60 s; the caller passes the (monotonic) time."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._sent: deque[float] = deque()

    def allow(self, now: float) -> bool:
        """Take a slot at ``now`` if one is free."""
        while self._sent and now - self._sent[0] >= 60.0:
            self._sent.popleft()
        if len(self._sent) >= self.per_minute:
            return False
        self._sent.append(now)
        return True
