"""The state machine, refusals, backoff and rate limit as pure functions."""

from __future__ import annotations

import pytest

from lineage.replay import state as sm
from lineage.replay.errors import Refused


def test_happy_path_and_illegal_moves() -> None:
    s = sm.initial_state(needs_approval=True)
    assert s == "awaiting_approval"
    for event, expected in (
        ("approve", "approved"),
        ("attempt", "sent"),
        ("retry", "sent"),
        ("delivered", "delivered"),
    ):
        s = sm.transition(s, event)
        assert s == expected
    assert sm.transition(s, "confirm") == "confirmed"
    assert sm.initial_state(needs_approval=False) == "approved"
    for state, event in (
        ("sent", "cancel"),
        ("confirmed", "attempt"),
        ("cancelled", "approve"),
        ("approved", "approve"),
    ):
        with pytest.raises(Refused) as err:
            sm.transition(state, event)
        assert err.value.status == 409 and state in err.value.reason
    assert sm.transition("sent", "give_up") == "failed" and sm.transition("approved", "cancel") == "cancelled"
    assert sm.transition("failed", "confirm") == "confirmed"  # a later ok hop proves the posting


def test_four_eyes() -> None:
    sm.check_approver("alice", "bob")
    with pytest.raises(Refused) as err:
        sm.check_approver("alice", "alice")
    assert err.value.status == 403


def _cand(**kw: object) -> sm.Candidate:
    base: dict[str, object] = {
        "state": "open",
        "category": "erp_unavailable",
        "system": "erp",
        "succeeded": False,
        "in_flight": None,
        "has_target": True,
        "replayable_categories": frozenset({"erp_unavailable"}),
    }
    return sm.Candidate(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({}, None),
        ({"state": "acknowledged"}, None),
        ({"succeeded": True, "state": "resolved"}, "already succeeded"),
        ({"state": "resolved"}, "resolved"),
        ({"in_flight": "r1"}, "r1 of this exception is already in flight"),
        ({"has_target": False}, "no replay target"),
        ({"category": "tax_error"}, "not replayable"),
    ],
)
def test_refusals(changes: dict[str, object], reason: str | None) -> None:
    got = sm.refusal(_cand(**changes))
    assert got == reason if reason is None else reason in (got or "")


def test_backoff_doubles_and_caps() -> None:
    assert [sm.backoff_s(n, 2, 10) for n in range(1, 6)] == [2, 4, 8, 10, 10]


def test_rate_limit_sliding_minute() -> None:
    limit = sm.RateLimit(2)
    assert [limit.allow(t) for t in (0, 1, 2, 59.9)] == [True, True, False, False]
    assert limit.allow(60) and not limit.allow(60.5) and limit.allow(61)
