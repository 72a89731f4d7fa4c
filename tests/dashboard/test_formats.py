"""The one formatting module: money in its currency's minor units with thousands separators,
"amount unknown" for none, rates as percentages that never round a failure away."""

from __future__ import annotations

import math
import re

from hypothesis import given
from hypothesis import strategies as st

from dashboard import formats

CURRENCIES = st.sampled_from(["EUR", "USD", "GBP", "SEK", "JPY", "KRW", "BHD", "KWD", "CLF", "XYZ"])
AMOUNTS = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False)


def test_examples() -> None:
    assert formats.money(1067009.25, "EUR") == "1,067,009.25 EUR"
    assert formats.money(27651234.4, "JPY") == "27,651,234 JPY"
    assert formats.money(1234.5678, "bhd") == "1,234.568 BHD"
    assert formats.money(-55.35, "GBP") == "-55.35 GBP"
    assert formats.money(12.5, "") == "12.50 (no currency)"
    assert formats.money(None, "EUR") == "amount unknown"
    assert formats.money(float("nan"), "EUR") == "amount unknown"
    assert formats.total(0.0, None) == "amount unknown"  # the API's total of items without an amount
    assert formats.total(0.0, "EUR") == "0.00 EUR"
    assert formats.amount(1067009.25, "USD") == "1,067,009.25"
    assert formats.percent(0.520833) == "52%"
    assert formats.percent(0.004) == "0.4%"
    assert formats.percent(0.00001) == "<0.01%"
    assert formats.percent(0.9996) == "99.96%"
    assert formats.percent(0.0) == "0%" and formats.percent(1.0) == "100%"
    assert formats.percent(None) == "—"
    assert formats.count(1234567) == "1,234,567"
    assert formats.signed(4) == "+4" and formats.signed(-1234) == "-1,234" and formats.signed(0) == "0"
    assert formats.plural(1, "item") == "1 item" and formats.plural(1200, "item") == "1,200 items"
    assert formats.number(5.5) == "5.50" and formats.number(7.0) == "7" and formats.number(-0.001, 2) == "0.00"
    assert formats.format_ms(3_900_000) == "1h 05m" and formats.format_ms(None) == "—"
    assert formats.format_ms(float("nan")) == "—"  # a missing duration in a table column


@given(AMOUNTS, CURRENCIES)
def test_money_has_the_currency_decimals_and_groups_of_three(value: float, currency: str) -> None:
    text = formats.money(value, currency)
    places = formats.decimals(currency)
    number, code = text.rsplit(" ", 1)
    assert code == currency
    fraction = rf"\.\d{{{places}}}" if places else ""
    assert re.fullmatch(rf"-?\d{{1,3}}(,\d{{3}})*{fraction}", number), text
    # the figure read back is the amount, to half a minor unit (and never "-0")
    shown = float(number.replace(",", ""))
    assert math.isclose(shown, value, abs_tol=0.5 * 10**-places + abs(value) * 1e-12), text
    assert not re.fullmatch(r"-0(\.0+)?", number)


@given(st.floats(min_value=0, max_value=1, allow_nan=False))
def test_a_percentage_never_rounds_to_none_or_all(rate: float) -> None:
    text = formats.percent(rate)
    assert text.endswith("%")
    assert (text == "0%") == (rate == 0)
    assert (text == "100%") == (rate == 1)
    if text[0].isdigit():
        shown = float(text.rstrip("%").replace(",", ""))
        assert abs(shown - rate * 100) <= 0.5, text


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_counts_read_back(value: int) -> None:
    text = formats.count(value)
    assert re.fullmatch(r"-?\d{1,3}(,\d{3})*", text)
    assert int(text.replace(",", "")) == value
