"""Multiwindow, multi-burn-rate SLO alerting (Google SRE Workbook, chapter 5)."""

from __future__ import annotations

from dataclasses import dataclass

from alerts.rules import BurnWindow
from lineage.core.timeparse import format_duration


@dataclass(frozen=True)
class BurnCheck:
    """One window pair with its factor, and the error ratios measured over each window."""

    long_s: float
    short_s: float
    factor: float
    long_ratio: float
    short_ratio: float
    threshold: float

    @property
    def firing(self) -> bool:
        """Both windows burn faster than ``factor`` times the budget."""
        return self.long_ratio > self.threshold and self.short_ratio > self.threshold

    @property
    def name(self) -> str:
        """``1h/5m``."""
        return f"{format_duration(self.long_s)}/{format_duration(self.short_s)}"


def burn_factor(budget_percent: float, period_s: float, long_s: float) -> float:
    """The burn rate that spends ``budget_percent`` of the budget in ``long_s``:
    2% of 30d in 1h -> 14.4; 5% in 6h -> 6; 10% in 3d -> 1."""
    return round(budget_percent / 100.0 * period_s / long_s, 6)


def evaluate(
    objective_percent: float, period_s: float, windows: list[BurnWindow], ratio_of: dict[float, float]
) -> list[BurnCheck]:
    """Every window pair checked against the error ratios per window length (seconds)."""
    budget = 1.0 - objective_percent / 100.0
    checks = []
    for w in windows:
        factor = burn_factor(w.budget_percent, period_s, w.long)
        checks.append(
            BurnCheck(w.long, w.short, factor, ratio_of.get(w.long, 0.0), ratio_of.get(w.short, 0.0), factor * budget)
        )
    return checks
