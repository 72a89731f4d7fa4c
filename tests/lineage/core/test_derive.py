"""Status, SLA and conformance derivation from aggregated stage facts (pure)."""

from __future__ import annotations

from lineage.core.derive import TxnFacts, evaluate
from lineage.core.flows import load_flows

H = 3600_000
CONFIG = load_flows()
T0 = 1_700_000_000_000
KEYS = [
    ("case", "case.opened"),
    ("credit", "credit.approved"),
    ("invoice", "invoice.issued"),
    ("ledger", "ledger.posted"),
]


def facts(done_after_h: list[float | None], unresolved: list[tuple[str, str]] | None = None) -> TxnFacts:
    done = {k: T0 + int(h * H) for k, h in zip(KEYS, done_after_h, strict=False) if h is not None}
    return TxnFacts("c", "support_credit", T0, max(done.values(), default=T0), done, unresolved or [])


def test_complete_within_sla() -> None:
    v = evaluate(CONFIG, facts([0, 1, 1.5, 3]), T0 + 10 * H)
    assert v.status == "complete" and v.completed_ms == T0 + 3 * H and not v.breached
    assert [s.duration_ms for s in v.stages] == [0, H, H // 2, int(1.5 * H)]


def test_late_stage_is_breached_but_complete() -> None:
    v = evaluate(CONFIG, facts([0, 1, 3, 4]), T0 + 10 * H)  # invoice 2h after credit: SLA 1h
    assert v.status == "complete" and v.breached
    assert [s.breached for s in v.stages] == [False, False, True, False]


def test_open_stage_time_left_and_stuck() -> None:
    flying = evaluate(CONFIG, facts([0, 1]), T0 + int(1.5 * H))
    assert flying.status == "in_flight"
    invoice = flying.stages[2]
    assert invoice.state == "open" and invoice.time_left_ms == H // 2 and not invoice.breached
    assert [s.state for s in flying.stages] == ["done", "done", "open", "pending"]
    stuck = evaluate(CONFIG, facts([0, 1]), T0 + 3 * H)
    assert stuck.status == "stuck" and stuck.stages[2].time_left_ms == -H


def test_end_to_end_overdue_is_stuck() -> None:
    v = evaluate(CONFIG, facts([0, 1, 1.5]), T0 + 25 * H)
    assert v.status == "stuck" and v.end_to_end_breached


def test_failed_only_for_terminal_failures() -> None:
    assert evaluate(CONFIG, facts([0, 1, 1.5], [("dead_letter", "timeout")]), T0 + 2 * H).status == "failed"
    assert evaluate(CONFIG, facts([0, 1, 1.5], [("failed", "tax_error")]), T0 + 2 * H).status == "failed"
    assert evaluate(CONFIG, facts([0, 1, 1.5], [("failed", "timeout")]), T0 + 2 * H).status == "in_flight"
    assert evaluate(CONFIG, facts([0, 1, 1.5], [("retry", "")]), T0 + 2 * H).status == "in_flight"
    # A later posting completes the transaction even with an old dead letter elsewhere.
    assert evaluate(CONFIG, facts([0, 1, 1.5, 2], [("dead_letter", "x")]), T0 + 3 * H).status == "complete"


def test_missing_and_out_of_order() -> None:
    v = evaluate(CONFIG, facts([0, None, 1, 2]), T0 + 3 * H)
    assert v.status == "complete"
    assert [(c["kind"], c["stage"]) for c in v.conformance] == [("missing_stage", "credit")]
    assert v.stages[2].duration_ms == H  # measured from the case, the previous completed stage
    swapped = evaluate(CONFIG, facts([0, 2, 1, 3]), T0 + 4 * H)
    assert [(c["kind"], c["stage"]) for c in swapped.conformance] == [("out_of_order", "invoice")]
