"""Percentiles and timing for the benchmarks (nearest rank, so a p95 is a measured value)."""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable, Iterable
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


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    """p50 and p95 in ms over ``runs`` calls."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return p50_p95(times)


def paired(fns: list[Callable[[str], Any]], args: list[str], runs: int) -> list[tuple[float, float]]:
    """p50 and p95 in ms of each of ``fns``, called in turn on the same random argument, so a
    load change on a shared machine hits them all alike."""
    rng = random.Random(11)
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        arg = rng.choice(args)
        for fn, out in zip(fns, times, strict=True):
            t = time.perf_counter()
            fn(arg)
            out.append((time.perf_counter() - t) * 1000)
    return [p50_p95(t) for t in times]
