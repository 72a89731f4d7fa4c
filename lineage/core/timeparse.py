"""The one time module: durations, instants (ISO-8601 or a duration ago) and epoch milliseconds.

Every component parses durations here (flows, API parameters, alert rules, the simulator),
so ``2w``, ``5min``, ``1h30m``, ``90`` (seconds) and ``0`` mean the same everywhere.
Everything is UTC. Values outside what a datetime can hold are a ValueError, never an
OverflowError, so callers turn them into a 422 or a config error like any bad input.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|min|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# Longer than any retention or window ledgerline accepts; keeps datetime arithmetic in range.
MAX_DURATION_S = 100 * 366 * 86400
_HINT = "use e.g. 90s, 5m, 5min, 4h, 1h30m, 7d, 2w, or a number of seconds"


def parse_seconds(value: object) -> float:
    """Seconds in ``value``: a duration string, or a non-negative number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r} ({_HINT})")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        if _NUMBER.fullmatch(text):
            seconds = float(text)
        else:
            pos, seconds = 0, 0.0
            for match in _PART.finditer(text):
                if match.start() != pos:
                    break
                seconds += float(match.group(1)) * _UNITS[match.group(2)]
                pos = match.end()
            if not text or pos != len(text):
                raise ValueError(f"not a duration: {value!r} ({_HINT})")
    if not 0 <= seconds <= MAX_DURATION_S:
        raise ValueError(f"duration out of range: {value!r} (0 to 100 years)")
    return seconds


def parse_duration(value: object) -> timedelta:
    """The duration in ``value`` as a timedelta (see :func:`parse_seconds`)."""
    return timedelta(seconds=parse_seconds(value))


def format_duration(seconds: float) -> str:
    """Compact form: 3600 -> ``1h``, 5400 -> ``1h30m``; the inverse of :func:`parse_seconds`."""
    if seconds <= 0:
        return "0s"
    out, rest = [], round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(out)


def parse_instant(text: str, now: datetime) -> datetime:
    """An ISO-8601 timestamp (naive means UTC) or a duration before ``now`` ("24h")."""
    text = text.strip()
    try:
        ago = parse_duration(text)
    except ValueError:
        pass
    else:
        try:
            return now - ago
        except OverflowError:
            raise ValueError(f"time out of range: {text!r} ago") from None
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


def iso_z(value: datetime) -> str:
    """ISO-8601 in UTC with a ``Z``, as every time the API answers (naive values are UTC)."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


def utcnow() -> datetime:
    """Now, in UTC."""
    return datetime.now(tz=UTC)
