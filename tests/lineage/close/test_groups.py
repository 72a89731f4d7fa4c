"""The gate's reconciliation-breaks group is built from the stored break rows: counted and summed
over every row read, only the first LIMIT shaped as items, and a break with no single amount
(a currency mismatch) makes the group's money unknown. Checked against shaping every row."""

from __future__ import annotations

from typing import Any

from lineage.business.reconcile import shape_break, sides
from lineage.close import groups


def _row(i: int, status: str, left: float | None, right: float | None, cur: str = "EUR", rcur: str = "") -> dict:
    return {
        "key": f"INV-{i}", "status": status, "at_ms": 1_700_000_000_000 + i, "legal_entity": "DE01",
        "left_amount": left or 0.0, "right_amount": right or 0.0, "left_currency": cur if left is not None else "",
        "right_currency": (rcur or cur) if right is not None else "", "left_cid": f"C-{i}",
        "right_cid": f"J-{i}" if right is not None else "", "left_entity": f"INV-{i}" if left is not None else "",
        "right_entities": [f"P-{i}"] if right is not None else [], "compensated": 0,
    }  # fmt: skip


def _rows(n: int) -> list[dict[str, Any]]:
    kinds = [("left_only", 10.25, None), ("right_only", None, 3.5), ("amount_mismatch", 100.0, 99.99)]
    return [_row(i, *kinds[i % 3]) for i in range(n)]


def _shaped_all(found: groups.Found) -> list[dict[str, Any]]:
    return [
        groups._break_item(name, shape_break(r), *groups._break_money(*sides(r)))
        for name, rows, _ in found
        for r in rows
    ]


def test_a_group_counts_and_sums_every_break_read_and_lists_the_first_ones() -> None:
    found: groups.Found = [("invoices", _rows(130), False), ("payments", _rows(20), True)]
    group, unknown = groups._group(found)
    every = _shaped_all(found)
    assert group["count"] == 150 == len(every)
    assert group["items"] == every[: groups.LIMIT] and len(group["items"]) == groups.LIMIT
    assert group["truncated"] is True and unknown is False
    # 44 + 7 left only of 10.25, 43 + 7 right only of 3.5, 43 + 6 mismatches of 0.01, to the cent
    assert group["money"] == [{"currency": "EUR", "amount": 698.24}]
    assert group["money"] == groups.money((i["amount"], i["currency"]) for i in every)


def test_a_currency_mismatch_has_no_amount_so_the_groups_money_is_unknown() -> None:
    rows = [_row(1, "left_only", 40.0, None), _row(2, "currency_mismatch", 40.0, 40.0, "EUR", "USD")]
    group, unknown = groups._group([("invoices", rows, False)])
    assert unknown is True and group["count"] == 2 and group["truncated"] is False
    assert [i["amount"] for i in group["items"]] == [40.0, None]
    assert group["money"] == [{"currency": "EUR", "amount": 40.0}]


def test_nothing_read_is_an_empty_group() -> None:
    group, unknown = groups._group([("invoices", [], False)])
    assert group == {"count": 0, "money": [], "items": [], "truncated": False} and unknown is False
