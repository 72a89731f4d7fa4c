"""Percentiles for the benchmarks (nearest rank, so a p95 is a measured value)."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterable
from typing import Any


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q`` quantile (0 < q <= 1) of ``values`` by nearest rank; NaN when empty."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[max(0, math.ceil(q * len(ordered) - 1e-9) - 1)]


def p50_p95(values: Iterable[float]) -> tuple[float, float]:
    """The median (interpolated, as :func:`statistics.median`) and the nearest-rank p95."""
    ordered = sorted(values)
    if not ordered:
        return float("nan"), float("nan")
    return statistics.median(ordered), percentile(ordered, 0.95)


def settle(store: Any, database: str, timeout_s: float = 120.0) -> float:
    """Wait (up to ``timeout_s``) until no merge runs in ``database``, so a measurement right
    after a load does not share the machine with the load's background merges; the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if not store.query("SELECT count() FROM system.merges WHERE database = {db:String}", {"db": database})[0][0]:
            break
        time.sleep(0.5)
    return time.monotonic() - started


def print_figures(figures: dict[str, float], as_json: bool) -> None:
    """One line per figure and, with ``as_json``, all of them as one JSON object on the last line."""
    import json

    for name, value in figures.items():
        print(f"{name:36s} {value:,}")
    if as_json:
        print(json.dumps(figures))
