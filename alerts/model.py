"""Alert instances, their identity (the Alertmanager fingerprint) and templating."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = (1 << 64) - 1


def fingerprint(labels: dict[str, str]) -> str:
    """FNV-1a 64 over sorted ``name 0xFF value 0xFF``, as Prometheus/Alertmanager compute it."""
    h = _FNV_OFFSET
    for name in sorted(labels):
        for chunk in (name.encode(), b"\xff", labels[name].encode(), b"\xff"):
            for byte in chunk:
                h = ((h ^ byte) * _FNV_PRIME) & _MASK
    return f"{h:016x}"


class State(StrEnum):
    """States of one alert instance."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Sample:
    """One row a rule returned: its labels (result columns), value and example correlation IDs."""

    labels: dict[str, str]
    value: float
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class Alert:
    """One alert instance. Times are epoch milliseconds; 0 means unset."""

    rule: str
    fingerprint: str
    labels: dict[str, str]
    state: State
    annotations: dict[str, str] = field(default_factory=dict)
    value: float = 0.0
    active_at: int = 0
    fired_at: int = 0
    resolved_at: int = 0
    keep_firing_since: int = 0
    last_eval_at: int = 0

    def with_(self, **changes: object) -> Alert:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Transition:
    """A state change of one instance (or of a rule's health when fingerprint is empty)."""

    at: int
    rule: str
    fingerprint: str
    labels: dict[str, str]
    from_state: str
    to_state: str
    reason: str
    value: float = 0.0


_TEMPLATE = re.compile(
    r"\{\{\s*\$(labels\.([A-Za-z_][A-Za-z0-9_]*)|value|examples|dashboard)"
    r"(?:\s*\|\s*(humanizeDuration|printf\s+\"%\.\d+f\"))?\s*\}\}"
)


def render(
    template: str, labels: dict[str, str], value: float, examples: tuple[str, ...] = (), dashboard: str = ""
) -> str:
    """Expand ``{{ $labels.x }}``, ``{{ $value }}`` (optionally ``| humanizeDuration``),
    ``{{ $examples }}`` and ``{{ $dashboard }}``; unknown text is left as it is."""

    def sub(match: re.Match[str]) -> str:
        what, label, fmt = match.group(1), match.group(2), match.group(3)
        if label is not None:
            return labels.get(label, "")
        if what == "examples":
            return ", ".join(examples)
        if what == "dashboard":
            return dashboard
        if fmt == "humanizeDuration":
            from lineage.core.timeparse import format_duration

            return format_duration(value)
        if fmt:
            digits = int(re.findall(r"\d+", fmt)[0])
            return f"{value:.{digits}f}"
        return f"{value:g}"

    return _TEMPLATE.sub(sub, template)


def has_template(text: str) -> bool:
    """True when ``text`` contains template syntax (forbidden in labels)."""
    return "{{" in text or "$value" in text
