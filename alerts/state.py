"""The alert state machine: a pure function of (previous instances, samples, now).

inactive -> pending (while ``for`` has not elapsed) -> firing -> resolved. A firing
instance whose sample disappears keeps firing for ``keep_firing_for``; a pending one is
dropped without notice. Resolved instances are retained (and re-sent) for a while so a
resolve survives delivery failures and restarts. A failed query changes nothing: callers
do not call :func:`step` for it (see evaluator), so errors never resolve.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from alerts.model import Alert, Sample, State, Transition, fingerprint


@dataclass(frozen=True)
class Timing:
    """The rule's ``for`` and ``keep_firing_for`` and the resolved retention, in ms."""

    for_ms: int = 0
    keep_firing_for_ms: int = 0
    resolved_retention_ms: int = 15 * 60_000


Annotate = Callable[[dict[str, str], Sample], dict[str, str]]


def _move(alert: Alert, to: State, now: int, reason: str, out: list[Transition], **changes: object) -> Alert:
    out.append(
        Transition(now, alert.rule, alert.fingerprint, alert.labels, alert.state.value, to.value, reason, alert.value)
    )
    return alert.with_(state=to, **changes)


def _present(
    prev: Alert | None,
    rule: str,
    labels: dict[str, str],
    fp: str,
    sample: Sample,
    notes: dict[str, str],
    timing: Timing,
    now: int,
    out: list[Transition],
) -> Alert:
    if prev is None or prev.state in (State.INACTIVE, State.RESOLVED):
        prev = Alert(rule, fp, labels, State.INACTIVE, notes, sample.value) if prev is None else prev
        alert = _move(
            prev.with_(value=sample.value, annotations=notes),
            State.PENDING,
            now,
            "active",
            out,
            active_at=now,
            fired_at=0,
            resolved_at=0,
            keep_firing_since=0,
        )
    else:  # value and annotations update in place; labels never do
        alert = prev.with_(value=sample.value, annotations=notes, keep_firing_since=0)
    if alert.state == State.PENDING and now - alert.active_at >= timing.for_ms:
        alert = _move(alert, State.FIRING, now, "for elapsed", out, fired_at=now)
    return alert.with_(last_eval_at=now)


def _absent(alert: Alert, timing: Timing, now: int, out: list[Transition]) -> Alert | None:
    if alert.state == State.PENDING:
        _move(alert, State.INACTIVE, now, "cleared before for", out)
        return None
    if alert.state == State.FIRING:
        since = alert.keep_firing_since or now
        if now - since < timing.keep_firing_for_ms:
            return alert.with_(keep_firing_since=since, last_eval_at=now)
        return _move(alert, State.RESOLVED, now, "cleared", out, resolved_at=now, keep_firing_since=0, last_eval_at=now)
    if alert.state == State.RESOLVED and now - alert.resolved_at >= timing.resolved_retention_ms:
        return None  # retention over: forgotten (no transition: it already resolved)
    return alert


def step(
    rule: str,
    base_labels: dict[str, str],
    prev: dict[str, Alert],
    samples: list[Sample],
    timing: Timing,
    now: int,
    annotate: Annotate,
) -> tuple[dict[str, Alert], list[Transition]]:
    """The instances after one successful evaluation at ``now`` and the transitions made.

    Sample labels are merged over ``base_labels``; duplicate label sets raise ValueError.
    """
    out: list[Transition] = []
    current: dict[str, Alert] = {}
    for sample in samples:
        labels = {**base_labels, **sample.labels}
        fp = fingerprint(labels)
        if fp in current:
            raise ValueError(f"rule {rule}: two results with the same labels {labels}")
        current[fp] = _present(prev.get(fp), rule, labels, fp, sample, annotate(labels, sample), timing, now, out)
    for fp, alert in prev.items():
        if fp not in current:
            kept = _absent(alert, timing, now, out)
            if kept is not None:
                current[fp] = kept
    return current, out
