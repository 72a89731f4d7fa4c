"""The pure state machine: for, keep_firing_for, pending drop, resolved retention."""

from __future__ import annotations

from alerts.model import Alert, Sample, State
from alerts.state import Timing, step

MIN = 60_000
T = Timing(for_ms=5 * MIN, keep_firing_for_ms=2 * MIN, resolved_retention_ms=15 * MIN)


def run(prev: dict[str, Alert], present: bool, now: int) -> tuple[dict[str, Alert], list[str]]:
    samples = [Sample({"system": "sap"}, 1.0)] if present else []
    cur, out = step("R", {"alertname": "R"}, prev, samples, T, now, lambda labels, s: {"summary": "x"})
    return cur, [f"{t.from_state}->{t.to_state}" for t in out]


def test_pending_then_firing_only_after_for() -> None:
    cur, tr = run({}, True, 0)
    assert tr == ["inactive->pending"]
    cur, tr = run(cur, True, 4 * MIN)
    assert tr == [] and next(iter(cur.values())).state == State.PENDING
    cur, tr = run(cur, True, 5 * MIN)
    assert tr == ["pending->firing"]


def test_pending_that_clears_is_dropped_silently() -> None:
    cur, _ = run({}, True, 0)
    cur, tr = run(cur, False, MIN)
    assert cur == {} and tr == ["pending->inactive"]


def test_keep_firing_for_bridges_a_gap_then_resolves_and_is_retained() -> None:
    cur, _ = run({}, True, 0)
    cur, _ = run(cur, True, 5 * MIN)
    cur, tr = run(cur, False, 6 * MIN)  # one evaluation missing: still firing
    assert tr == [] and next(iter(cur.values())).state == State.FIRING
    cur, tr = run(cur, True, 7 * MIN)
    assert tr == [] and next(iter(cur.values())).keep_firing_since == 0
    cur, _ = run(cur, False, 8 * MIN)
    cur, tr = run(cur, False, 10 * MIN)
    assert tr == ["firing->resolved"]
    cur, _ = run(cur, False, 24 * MIN)
    assert next(iter(cur.values())).state == State.RESOLVED
    cur, tr = run(cur, False, 26 * MIN)
    assert cur == {} and tr == []
