"""Attempts folded into hop rows (pure): the rules the HOPS aggregation had, and its ties."""

from __future__ import annotations

from typing import Any

from lineage.core.fold import Attempt, fold, fold_group

MS = 1_000_000
T0 = 1_700_000_000_000 * MS


def attempt(start_ms: int, outcome: str = "ok", span: str = "s1", **kw: Any) -> Attempt:
    base: dict[str, Any] = {
        "entity_type": "invoice",
        "entity_id": "INV-1",
        "step": "invoice.issued",
        "system": "billing",
        "outcome": outcome,
        "error_category": "",
        "start_ns": T0 + start_ms * MS,
        "end_ns": T0 + (start_ms + 10) * MS,
        "trace_id": "t1",
        "span_id": span,
        "flow": "",
        "amount": None,
        "currency": "",
        "parent_type": "",
        "parent_ids": [],
        "compensates": "",
        "exc_id": "e1",
        "region": "",
        "message": "",
        "idempotency_key": "",
        "link_trace_ids": [],
        "link_span_ids": [],
    }
    return Attempt(**(base | kw))


def test_a_retried_failure_folds_into_one_resolved_hop() -> None:
    failed = attempt(0, "failed", "s1", error_category="timeout", system="sap", region="emea", message="boom")
    retried = attempt(100, "ok", "s2", amount=12.5, currency="EUR", idempotency_key="k1")
    h = fold_group("C1", [retried, failed])  # any order in
    assert (h["outcome"], h["system"], h["span_id"], h["attempts"]) == ("ok", "billing", "s2", 2)
    assert (h["oks"], h["fails"]) == (1, 1)
    assert h["start_ms"] == T0 // MS and h["end_ms"] == T0 // MS + 110
    assert h["error_category"] == "timeout"  # the latest attempt that carried one
    fail = (h["fail_outcome"], h["fail_system"], h["fail_region"], h["fail_message"])
    assert fail == ("failed", "sap", "emea", "boom")
    assert h["fail_first_ms"] == h["fail_start_ms"] == T0 // MS and h["fail_last_ms"] == T0 // MS + 10
    assert h["auto_resolved"] and h["ok_ms"] == h["ok_end_ms"] == T0 // MS + 110
    assert (h["amount"], h["currency"], h["ok_amount"], h["ok_currency"]) == (12.5, "EUR", 12.5, "EUR")
    assert h["idem_keys"] == ["k1"] and h["correlation_id"] == "C1"
    assert [a[5] for a in h["attempt_list"]] == ["s1", "s2"]  # start order


def test_a_group_that_never_failed_or_never_succeeded_takes_the_defaults() -> None:
    ok = fold_group("C1", [attempt(0)])
    assert (ok["fails"], ok["fail_first_ms"], ok["fail_last_ms"], ok["fail_start_ms"]) == (0, 0, 0, 0)
    assert (ok["fail_outcome"], ok["fail_system"], ok["fail_message"], ok["error_category"]) == ("", "", "", "")
    assert ok["auto_resolved"] and ok["amount"] is None and ok["ok_amount"] is None and ok["ok_currency"] == ""
    dead = fold_group("C1", [attempt(0, "dead_letter", error_category="tax_error")])
    assert (dead["oks"], dead["ok_ms"], dead["ok_end_ms"], dead["auto_resolved"]) == (0, 0, 0, 0)


def test_a_failure_after_a_success_is_not_auto_resolved() -> None:
    h = fold_group("C1", [attempt(0, "ok", "s1"), attempt(50, "failed", "s2")])
    assert not h["auto_resolved"] and h["outcome"] == "failed" and h["ok_end_ms"] == T0 // MS + 10


def test_a_compensation_is_not_a_failure_but_not_a_success_either() -> None:
    h = fold_group("C1", [attempt(0, "compensated", compensates="invoice:INV-0")])
    assert (h["oks"], h["fails"], h["fail_outcome"], h["compensates"]) == (0, 0, "compensated", "invoice:INV-0")


def test_amount_if_any_ignores_later_attempts_without_one_and_ok_amount_only_successes() -> None:
    h = fold_group(
        "C1",
        [
            attempt(0, "ok", "s1", amount=5.0, currency="EUR"),
            attempt(10, "failed", "s2", amount=7.0, currency="USD"),
            attempt(20, "failed", "s3", currency="GBP"),
        ],
    )
    assert (h["amount"], h["currency"]) == (7.0, "GBP")  # each: the latest attempt carrying one
    assert (h["ok_amount"], h["ok_currency"]) == (5.0, "EUR")


def test_a_nan_amount_counts_as_carried() -> None:
    h = fold_group("C1", [attempt(0, amount=1.0), attempt(5, "ok", "s2", amount=float("nan"))])
    assert h["amount"] != h["amount"]  # NaN, as argMaxIf(Amount IS NOT NULL) gave


def test_ties_in_start_time_go_to_the_greater_trace_then_span_id() -> None:
    tie = [attempt(0, "failed", "s9", system="a"), attempt(0, "ok", "s1", trace_id="t2", system="b")]
    assert fold_group("C1", tie)["system"] == "b" and fold_group("C1", tie[::-1])["system"] == "b"
    same_trace = [attempt(0, "failed", "s2", system="a"), attempt(0, "ok", "s1", system="b")]
    h = fold_group("C1", same_trace)
    assert h["system"] == "a" and h["span_id"] == "s2" and not h["auto_resolved"]  # equal starts: not later


def test_sets_are_sorted_and_first_named_values_win() -> None:
    h = fold_group(
        "C1",
        [
            attempt(0, "failed", "s1", parent_type="", parent_ids=[], flow=""),
            attempt(5, "ok", "s2", parent_type="credit", parent_ids=["CR-2", "CR-1"], flow="support_credit",
                    link_trace_ids=["lt2", "lt1"], link_span_ids=["ls2", "ls1"]),
            attempt(9, "ok", "s3", parent_type="credit", parent_ids=["CR-1"], flow="other", idempotency_key="k"),
        ],
    )  # fmt: skip
    assert h["parent_type"] == "credit" and h["parent_ids"] == ["CR-1", "CR-2"] and h["flow"] == "support_credit"
    assert h["links"] == [("lt1", "ls1"), ("lt2", "ls2")] and h["idem_keys"] == ["k"]


def test_attempts_count_distinct_spans() -> None:
    assert fold_group("C1", [attempt(0), attempt(0)])["attempts"] == 1


def test_hops_come_in_first_start_order_then_keys_and_are_limited() -> None:
    rows = [
        attempt(5, entity_id="B", span="a"),
        attempt(5, entity_id="A", span="b"),
        attempt(0, entity_type="case", entity_id="Z", step="case.opened", span="c"),
        attempt(1, entity_id="B", span="d"),  # B's first start is now 1 ms
    ]
    assert [h["entity_id"] for h in fold("C1", list(map(tuple, rows)), 10)] == ["Z", "B", "A"]
    assert [h["entity_id"] for h in fold("C1", list(map(tuple, rows)), 2)] == ["Z", "B"]
    assert fold("C1", [], 5) == []
