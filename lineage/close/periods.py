"""Periods of a close: calendar months cut in a legal entity's time zone, and their deadline
(the period's end plus N business days, Monday to Friday). Pure functions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Period:
    """One month of one legal entity: [start_ms, end_ms) in UTC epoch ms, and its deadline."""

    name: str  # YYYY-MM
    start_ms: int
    end_ms: int
    deadline_ms: int


def parse_period(text: str) -> tuple[int, int]:
    """``2026-11`` -> (2026, 11); ValueError naming the expected form otherwise."""
    m = _PERIOD.match(text.strip())
    if m is None:
        raise ValueError(f"period must be YYYY-MM, e.g. 2026-11, not {text!r}")
    return int(m.group(1)), int(m.group(2))


def _local_ms(day: date, zone: ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp() * 1000)


def _next_month(year: int, month: int) -> date:
    return date(year + month // 12, month % 12 + 1, 1)


def add_business_days(day: date, n: int) -> date:
    """``day`` plus ``n`` business days (Monday to Friday; ``n`` = 0: ``day`` itself)."""
    while n > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day


def period(text: str, time_zone: str, business_days: int) -> Period:
    """The period ``YYYY-MM`` cut in ``time_zone``; its deadline is the end of the N-th business
    day after the period's last day (local midnight after it)."""
    year, month = parse_period(text)
    zone = ZoneInfo(time_zone)
    first, after = date(year, month, 1), _next_month(year, month)
    last_day = after - timedelta(days=1)
    deadline_day = add_business_days(last_day, business_days) + timedelta(days=1)
    return Period(
        f"{year:04d}-{month:02d}", _local_ms(first, zone), _local_ms(after, zone), _local_ms(deadline_day, zone)
    )


def previous_period(now_ms: int, time_zone: str) -> str:
    """The month before the one ``now_ms`` falls in, in ``time_zone`` (the period being closed)."""
    local = datetime.fromtimestamp(now_ms / 1000, ZoneInfo(time_zone))
    year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    return f"{year:04d}-{month:02d}"
