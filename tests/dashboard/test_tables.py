"""Tables keep numbers as numbers (so they sort as numbers) and show them through
dashboard.formats: money in its row's currency, durations, counts; a missing number stays missing."""

from __future__ import annotations

import pandas as pd

from dashboard.views.common import _formatted, readable

ROWS = [
    {"key": "A", "amount": 9.5, "currency": "EUR", "age": 90_000_000, "items": 1234, "note": None},
    {"key": "B", "amount": 1067009.25, "currency": "EUR", "age": 250_000, "items": 3, "note": "x"},
    {"key": "C", "amount": 27651234.0, "currency": "JPY", "age": 850, "items": 12, "note": "y"},
    {"key": "D", "amount": None, "currency": None, "age": None, "items": 0, "note": "z"},
]


def test_numbers_stay_numbers_and_read_formatted() -> None:
    shown = readable(ROWS)
    assert shown[3]["amount"] is None and shown[3]["currency"] == "—" and shown[0]["note"] == "—"
    frame = pd.DataFrame(shown)
    assert pd.api.types.is_float_dtype(frame["amount"]) and pd.api.types.is_integer_dtype(frame["items"])
    assert list(frame.sort_values("amount")["key"]) == ["A", "B", "C", "D"]  # numerically, the unknown last
    html = _formatted(frame, {"amount": "currency"}, ("age",)).to_html()
    for text in ("9.50 EUR", "1,067,009.25 EUR", "27,651,234 JPY", "1d 01h", "4m 10s", "850 ms", "1,234", "—"):
        assert f">{text}<" in html, text
    assert "1067009.25" not in html and "1067009.250000" not in html
