"""Money totals keep their currency's minor units: BHD fils survive, yen has no fraction, and
a sum of many amounts is exact before its one rounding."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dashboard import formats
from lineage.core import currency


def test_three_decimal_currencies_keep_their_third_decimal() -> None:
    assert currency.total([1234.5675, 0.001], "BHD") == 1234.569  # was 1234.57 at 2 decimals
    assert currency.round_money(0.0005 + 12.3454, "kwd") == 12.346
    assert currency.total([27_651_234.4, 0.4], "JPY") == 27_651_235.0
    assert currency.total([9.995, 0.001], "EUR") == 10.0
    assert currency.minor_units(None) == 2 and currency.minor_units("CLF") == 4


def test_many_small_amounts_sum_exactly_before_rounding() -> None:
    assert currency.total([0.1] * 10, "EUR") == 1.0
    assert currency.total([0.001] * 1000, "BHD") == 1.0


@given(st.lists(st.integers(min_value=0, max_value=10**9), max_size=200), st.sampled_from(["EUR", "JPY", "BHD"]))
def test_total_of_whole_minor_units_is_their_exact_sum(units: list[int], code: str) -> None:
    scale = 10 ** currency.minor_units(code)
    assert currency.total([u / scale for u in units], code) == round(sum(units) / scale, currency.minor_units(code))


def test_dashboard_formats_with_the_same_minor_units() -> None:
    # The dashboard may not import lineage (it talks HTTP only): its copy of the table must not drift.
    assert dict(formats.MINOR_UNITS) == dict(currency.MINOR_UNITS)
