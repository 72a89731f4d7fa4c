"""Durations ("5m", "1h30m", "7d") and instants (ISO-8601 or a duration ago), always UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """Parse "90s", "15m", "4h", "1h30m", "7d"; raise ValueError otherwise."""
    text = str(text).strip().lower()
    pos, seconds = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 4h, 1h30m, 7d)")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"duration out of range: {text!r}") from None


def parse_instant(text: str, now: datetime) -> datetime:
    """An ISO-8601 timestamp (naive means UTC) or a duration before ``now`` ("24h")."""
    text = text.strip()
    try:
        duration = parse_duration(text)
    except ValueError:
        pass
    else:
        try:
            return now - duration
        except OverflowError:
            raise ValueError(f"{text!r} ago is before year 1") from None
    try:
        value = datetime.fromisoformat(text.replace("z", "Z"))
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"time out of range: {text!r}") from None
    except ValueError:
        raise ValueError(f"not an ISO-8601 time or a duration: {text!r}") from None


def to_ms(value: datetime) -> int:
    """Milliseconds since the epoch."""
    return int(value.timestamp() * 1000)


def from_ms(value: int | None) -> datetime | None:
    """A UTC datetime from epoch milliseconds; None stays None."""
    if value is None:
        return None
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def utcnow() -> datetime:
    """Now, in UTC."""
    return datetime.now(tz=UTC)
