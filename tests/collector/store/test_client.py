"""The store client's bounded read: at most ``limit`` rows and whether more matched."""

from __future__ import annotations

import pytest

from collector.store import Store

SQL = "SELECT number AS n FROM numbers({total:UInt32}) ORDER BY n LIMIT {limit:UInt32}"


@pytest.mark.parametrize(
    ("total", "limit", "rows", "truncated"), [(10, 3, 3, True), (10, 10, 10, False), (5, 20, 5, False)]
)
def test_a_bounded_read_says_when_it_was_cut(store: Store, total: int, limit: int, rows: int, truncated: bool) -> None:
    page = store.query_bounded(SQL, {"total": total}, limit)
    assert [r["n"] for r in page.rows] == list(range(rows)) and page.truncated is truncated


def test_the_limit_parameter_may_have_another_name(store: Store) -> None:
    sql = "SELECT number AS n FROM numbers(10) LIMIT {top:UInt32}"
    page = store.query_bounded(sql, {}, 4, limit_param="top")
    assert len(page.rows) == 4 and page.truncated
