"""How every figure reads on the dashboard: money, counts, rates and durations, in one place.

Money has thousands separators and its currency's minor units (ISO 4217: EUR 2 decimals, JPY 0,
BHD 3); an amount nobody reported reads "amount unknown", never "0.00"; a rate reads as a
percentage that never rounds a few failures to "0%". Pages, tables, cards and figure hovers
all format through these functions (pure: no Streamlit here).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

UNKNOWN_AMOUNT = "amount unknown"
NONE = "—"  # a value that does not exist (an em dash), as in the tables
# ISO 4217 minor units that are not 2 (the list's 0, 3 and 4 decimal currencies).
MINOR_UNITS: Mapping[str, int] = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}


def decimals(currency: str | None) -> int:
    """The currency's minor units (2 for one not in the list, or none)."""
    return MINOR_UNITS.get((currency or "").strip().upper(), 2)


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def number(value: float | None, places: int | None = None) -> str:
    """``1,067,009.25``: thousands separators and ``places`` decimals. Without ``places``, a
    whole number has none and any other two (``5.5`` → ``5.50``); never ``-0``."""
    if _missing(value):
        return NONE
    assert value is not None
    if places is None:
        places = 0 if float(value).is_integer() else 2
    text = f"{value:,.{places}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.,") else text


def count(value: int | float | None) -> str:
    """A count with thousands separators: ``12,345``."""
    return number(value, 0)


def plural(n: int, word: str) -> str:
    """``1 item``, ``1,234 items``."""
    return f"{count(n)} {word}{'' if n == 1 else 's'}"


def signed(value: int | float) -> str:
    """A change with its sign: ``+1,234``, ``-12``, ``0``."""
    text = count(value)
    return text if text.startswith("-") or text == "0" else f"+{text}"


def amount(value: float | None, currency: str | None) -> str:
    """An amount in its currency's decimals, without the code: ``1,067,009.25`` (EUR),
    ``1,067,009`` (JPY); "amount unknown" when there is none."""
    if _missing(value):
        return UNKNOWN_AMOUNT
    return number(value, decimals(currency))


def money(value: float | None, currency: str | None) -> str:
    """An amount with its currency: ``1,067,009.25 EUR``, ``27,651,234 JPY``, ``1,234.567 BHD``;
    "amount unknown" when there is none; "(no currency)" when the currency is not known."""
    text = amount(value, currency)
    if text == UNKNOWN_AMOUNT:
        return text
    code = (currency or "").strip().upper()
    return f"{text} {code}" if code else f"{text} (no currency)"


def total(value: float | None, currency: str | None) -> str:
    """A per-currency total of the API (money at risk, waiting queues): the items without an
    amount are totalled under no currency, as 0, and read "amount unknown" (never "0.00")."""
    return money(value if currency else None, currency)


def percent(rate: float | None) -> str:
    """A share in [0, 1] as a percentage: ``0.520833`` → ``52%``. More decimals only where whole
    percent would mislead: a rate above 0 never reads ``0%``, one below 1 never ``100%``."""
    if _missing(rate):
        return NONE
    assert rate is not None
    pct = rate * 100
    text = ""
    for places in (0, 1, 2):
        text = f"{pct:,.{places}f}"
        shown = abs(float(text.replace(",", "")))
        if (shown == 0) == (pct == 0) and (shown == 100) == (abs(pct) == 100):
            return f"{number(pct, places)}%"
    if 0 < abs(pct) < 1:
        return f"{'-' if pct < 0 else ''}<0.01%"
    return f"{'-' if pct < 0 else ''}>99.99%"


def format_ms(ms: float | None) -> str:
    """A duration: ``1h 05m``, ``4m 10s``, ``850 ms``; an em dash for none (None or NaN)."""
    if _missing(ms):
        return NONE
    assert ms is not None
    sign, ms = ("-" if ms < 0 else ""), abs(ms)
    if ms < 1000:
        return f"{sign}{ms:.0f} ms"
    seconds = int(ms // 1000)
    if seconds < 60:
        return f"{sign}{ms / 1000:.1f} s"
    if seconds < 3600:
        return f"{sign}{seconds // 60}m {seconds % 60:02d}s"
    if seconds < 86400:
        return f"{sign}{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{sign}{seconds // 86400}d {seconds % 86400 // 3600:02d}h"
