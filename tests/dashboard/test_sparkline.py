"""Inline SVG sparklines and the overview's Markdown tables (no browser)."""

from __future__ import annotations

import re

from streamlit.testing.v1 import AppTest

from dashboard import sparkline


def _points(svg: str) -> list[tuple[float, float]]:
    found = re.search(r'<polyline points="([^"]+)"', svg)
    assert found is not None
    return [(float(x), float(y)) for x, y in (p.split(",") for p in found.group(1).split())]


def test_a_sparkline_draws_the_values_in_order_lowest_at_the_bottom() -> None:
    points = _points(sparkline.svg([5.0, 1.0, 9.0, 5.0], "#123456", "Open exceptions trend"))
    assert [x for x, _ in points] == [0.0, 66.7, 133.3, 200.0]
    ys = [y for _, y in points]
    assert ys[2] == min(ys) and ys[1] == max(ys)  # SVG y grows downwards: the highest value on top
    assert ys[0] == ys[3]
    assert min(ys) >= 0 and max(ys) <= sparkline.HEIGHT


def test_a_flat_or_short_trend() -> None:
    assert sparkline.svg([]) == "" and sparkline.svg([3.0]) == ""
    ys = {y for _, y in _points(sparkline.svg([2.0, 2.0, 2.0]))}
    assert len(ys) == 1


def test_the_label_is_escaped_and_the_colour_follows_the_change() -> None:
    assert 'aria-label="a &lt;b&gt; &amp; c"' in sparkline.svg([1.0, 2.0], label="a <b> & c")
    assert sparkline.color("+11", inverse=True) == sparkline.RISE_BAD
    assert sparkline.color("-52.2 s", inverse=True) == sparkline.RISE_GOOD
    assert sparkline.color("+3", inverse=False) == sparkline.RISE_GOOD
    assert sparkline.color("-3", inverse=False) == sparkline.RISE_BAD
    assert sparkline.color("0", inverse=True) == sparkline.FLAT
    assert sparkline.color(None, inverse=True) == sparkline.FLAT


def _app() -> None:
    from dashboard.views.common import small_table

    small_table(
        [
            {"system": "erp|x", "what": "tax_error *1*", "amount": "1,234.50", "items": 2, "list": "?page=drill&x=1"},
            {"system": "$billing", "what": None, "amount": "7.00", "items": 10, "list": ""},
        ],
        "empty",
        list="list ↗",
    )
    small_table([], "Nothing at risk.")


def test_a_small_table_is_markdown_with_links_escaped_cells_and_numbers_on_the_right() -> None:
    app = AppTest.from_function(_app).run()
    assert not app.exception
    text = app.markdown[0].value
    lines = text.splitlines()
    assert lines[0] == "| system | what | amount | items | list |"
    assert lines[1] == "| --- | --- | ---: | ---: | --- |"
    assert lines[2] == "| erp\\|x | tax\\_error \\*1\\* | 1,234.50 | 2 | [list ↗](?page=drill&x=1) |"
    assert lines[3] == "| \\$billing | — | 7.00 | 10 |  |"
    assert app.info[0].value == "Nothing at risk."
