"""Money totals in their currency's minor units (ISO 4217): EUR 2 decimals, JPY 0, BHD 3.

Totals are summed exactly (``math.fsum``) and rounded once, to the currency's own units, so a
total of Bahraini dinar keeps its fils and a yen total has no fraction. The dashboard formats
with the same table (dashboard/formats.py; a test keeps the two equal, since the dashboard may
only talk HTTP to this package).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

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


def minor_units(currency: str | None) -> int:
    """The currency's minor units (2 for one not in the list, or none)."""
    return MINOR_UNITS.get((currency or "").strip().upper(), 2)


def round_money(amount: float, currency: str | None) -> float:
    """``amount`` rounded to ``currency``'s minor units."""
    return round(float(amount), minor_units(currency))


def total(amounts: Iterable[float], currency: str | None) -> float:
    """The exact sum of ``amounts`` (one currency), rounded once to its minor units."""
    return round_money(math.fsum(amounts), currency)
