"""Status, SLA and conformance of a transaction from its aggregated stage facts. Pure.

Rules (documented in docs/lineage.md):

- a stage is done at the end of the first successful hop of its entity type and step
  (its own, or a hop elsewhere whose parent is one of its entities, e.g. a batch journal);
- its SLA runs from the completion of the previous completed stage (the first stage: from
  the transaction's first hop);
- ``complete``: the flow's last required stage is done;
- ``failed``: not complete, and an entity/step ended in a dead letter, or in a failure of a
  business-rule (non-recoverable) category, with no later success;
- ``stuck``: not complete, and the open stage (the first not done) or the end-to-end SLA
  is overdue: nothing has completed it in time;
- ``in_flight``: otherwise.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

from lineage.core.flows import Flow, FlowConfig


@dataclass(frozen=True)
class TxnFacts:
    """What SQL aggregated for one correlation ID."""

    correlation_id: str
    flow: str
    started_ms: int
    last_ms: int
    # (entity type, step) -> end of the first successful hop, epoch ms
    done: dict[tuple[str, str], int]
    # (last outcome, error category) of each entity/step whose failures are unresolved
    unresolved: list[tuple[str, str]] = field(default_factory=list)
    last_system: str = ""  # the system of the latest hop: where a stuck transaction waits


class StageVerdict(NamedTuple):
    """One stage against its SLA. ``state``: done, open, pending or missing. (A named tuple:
    listings and alert rounds build one per stage of thousands of transactions.)"""

    stage: str
    entity_type: str
    step: str
    state: str
    required: bool
    sla_ms: int | None
    started_ms: int | None
    completed_ms: int | None
    duration_ms: int | None
    breached: bool
    due_ms: int | None
    time_left_ms: int | None  # open stages only; negative means overdue


@dataclass(frozen=True)
class Verdict:
    """Status, SLA and order conformance of one transaction."""

    status: str
    completed_ms: int | None
    stages: list[StageVerdict]
    breached: bool
    end_to_end_sla_ms: int | None
    end_to_end_ms: int | None
    end_to_end_breached: bool

    @cached_property
    def conformance(self) -> list[dict[str, str]]:
        """Missing required stages and stages out of order (computed on first use: listings
        and alert rounds judge many transactions and never look)."""
        return conformance(self.stages)


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


def stage_verdicts(flow: Flow, facts: TxnFacts, now_ms: int) -> list[StageVerdict]:
    """Each stage's state, duration and SLA verdict."""
    done = [facts.done.get((s.entity_type, s.step)) for s in flow.stages]
    out: list[StageVerdict] = []
    prev_ms: int | None = facts.started_ms
    open_seen = False
    for i, stage in enumerate(flow.stages):
        sla = _ms(stage.sla_s)
        completed = done[i]
        due = None if prev_ms is None or sla is None else prev_ms + sla
        if completed is not None:
            duration = max(0, completed - prev_ms) if prev_ms is not None else None
            breached = due is not None and completed > due
            out.append(
                StageVerdict(
                    stage.name,
                    stage.entity_type,
                    stage.step,
                    "done",
                    stage.required,
                    sla,
                    prev_ms,
                    completed,
                    duration,
                    breached,
                    due,
                    None,
                )
            )
            prev_ms = completed
            continue
        if any(d is not None for d in done[i + 1 :]):
            state = "missing"
        elif not open_seen:
            state, open_seen = "open", True
        else:
            state = "pending"
        if state != "open":
            out.append(
                StageVerdict(
                    stage.name,
                    stage.entity_type,
                    stage.step,
                    state,
                    stage.required,
                    sla,
                    None,
                    None,
                    None,
                    False,
                    None,
                    None,
                )
            )
            continue
        left = None if due is None else due - now_ms
        out.append(
            StageVerdict(
                stage.name,
                stage.entity_type,
                stage.step,
                "open",
                stage.required,
                sla,
                prev_ms,
                None,
                now_ms - prev_ms if prev_ms is not None else None,
                left is not None and left < 0,
                due,
                left,
            )
        )
    return out


def conformance(stages: list[StageVerdict]) -> list[dict[str, str]]:
    """Missing required stages and stages completed before the one they follow."""
    issues = [
        {"kind": "missing_stage", "stage": s.stage, "detail": f"required stage {s.stage} ({s.step}) never completed"}
        for s in stages
        if s.state == "missing" and s.required
    ]
    completed = [s for s in stages if s.completed_ms is not None]
    for before, after in itertools.pairwise(completed):
        if (
            after.completed_ms is not None
            and before.completed_ms is not None
            and after.completed_ms < before.completed_ms
        ):
            issues.append(
                {
                    "kind": "out_of_order",
                    "stage": after.stage,
                    "detail": f"{after.stage} completed before {before.stage}",
                }
            )
    return issues


def is_terminal(config: FlowConfig, outcome: str, category: str) -> bool:
    """A dead letter, or a failure no retry will fix (a business-rule category)."""
    return outcome == "dead_letter" or (outcome == "failed" and not config.recoverable(category))


def evaluate(config: FlowConfig, facts: TxnFacts, now_ms: int) -> Verdict:
    """Derive status, SLA verdicts and order conformance."""
    flow = config.flow(facts.flow)
    stages = stage_verdicts(flow, facts, now_ms)
    required = [s for s in stages if s.required] or stages
    last = required[-1]
    completed_ms = last.completed_ms
    e2e_sla = _ms(flow.end_to_end_sla_s)
    e2e = (completed_ms if completed_ms is not None else now_ms) - facts.started_ms
    e2e_breached = e2e_sla is not None and e2e > e2e_sla
    if completed_ms is not None:
        status = "complete"
    elif any(is_terminal(config, outcome, cat) for outcome, cat in facts.unresolved):
        status = "failed"
    elif e2e_breached or any(s.state == "open" and s.breached for s in stages):
        status = "stuck"
    else:
        status = "in_flight"
    return Verdict(
        status=status,
        completed_ms=completed_ms,
        stages=stages,
        breached=e2e_breached or any(s.breached for s in stages),
        end_to_end_sla_ms=e2e_sla,
        end_to_end_ms=e2e,
        end_to_end_breached=e2e_breached,
    )


def facts_from_row(row: dict[str, object]) -> TxnFacts:
    """Build TxnFacts from one row of the facts queries."""
    done: dict[tuple[str, str], int] = {}
    for entity_type, step, ok_ms in row["done"]:  # type: ignore[attr-defined]
        key = (str(entity_type), str(step))
        done[key] = min(int(ok_ms), done.get(key, int(ok_ms)))
    return TxnFacts(
        correlation_id=str(row["correlation_id"]),
        flow=str(row["flow_name"]),
        started_ms=int(row["started_ms"]),  # type: ignore[call-overload]
        last_ms=int(row["last_ms"]),  # type: ignore[call-overload]
        done=done,
        unresolved=[(str(o), str(c)) for o, c in row["unresolved"]],  # type: ignore[attr-defined]
        last_system=str(row.get("last_system") or ""),
    )


def facts_from_groups(cid: str, groups: list[dict[str, Any]], default_flow: str) -> TxnFacts:
    """TxnFacts of one transaction from its per entity/step rows (lineage/core/fold.py)."""
    done: dict[tuple[str, str], int] = {}
    for g in groups:
        if g["oks"]:
            key = (g["entity_type"], g["step"])
            done[key] = min(int(g["ok_ms"]), done.get(key, int(g["ok_ms"])))
    flow = next((g["flow"] for g in groups if g["flow"]), default_flow)
    unresolved = [(g["outcome"], g["error_category"]) for g in groups if g["fails"] and not g["auto_resolved"]]
    return TxnFacts(
        cid, flow, min(int(g["start_ms"]) for g in groups), max(int(g["end_ms"]) for g in groups), done, unresolved
    )


def adopt(facts: dict[str, TxnFacts], adopted: list[dict[str, Any]], owners: dict[tuple[str, str], set[str]]) -> None:
    """Let successful child hops from other correlation IDs complete their parents' stages."""
    for row in adopted:
        for owner in owners.get((row["parent_type"], row["parent_id"]), set()):
            target = facts.get(owner)
            if target is None or owner == row["cid"]:
                continue
            key, ok_ms = (row["entity_type"], row["step"]), int(row["ok_ms"])
            target.done[key] = min(ok_ms, target.done.get(key, ok_ms))
            object.__setattr__(target, "last_ms", max(target.last_ms, ok_ms))
