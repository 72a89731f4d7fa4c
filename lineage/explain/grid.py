"""The one-pass answer of ``queries.grid`` read back: per dimension value, its counts summed
over the buckets, its money per currency, its counts per bucket and (for "slow") its samples of
durations. Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

ALL = "*"  # the dimension every unit carries: its row holds the totals

Key = tuple[str, str]


@dataclass
class Value:
    """One dimension value: selection and baseline units, money, and per-bucket subject/all units."""

    sel: int = 0
    base: int = 0
    money: dict[str | None, Decimal] = field(default_factory=dict)
    hits: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    units: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    durations: list[float] = field(default_factory=list)  # "slow": a sample in the asked window
    durations_before: list[float] = field(default_factory=list)  # and in the previous window
    sample: list[tuple[float, frozenset[Key]]] = field(default_factory=list)  # totals: units with dims

    def rest(self, key: Key) -> list[float]:
        """From the totals' sample of units: the durations of those not carrying ``key``."""
        return [d for d, dims in self.sample if key not in dims]

    def first_bucket(self) -> int | float:
        """The first bucket of the asked window with a unit (infinity: none)."""
        return min((b for b, n in self.units.items() if b >= 0 and n), default=float("inf"))

    def split(self, at: int) -> tuple[int, int, int, int]:
        """(subject units, all units) before bucket ``at``, then from it on (the asked window only)."""
        before = [b for b in self.units if 0 <= b < at]
        after = [b for b in self.units if b >= at]
        return (
            sum(self.hits[b] for b in before),
            sum(self.units[b] for b in before),
            sum(self.hits[b] for b in after),
            sum(self.units[b] for b in after),
        )


def read(rows: Iterable[dict[str, Any]]) -> dict[Key, Value]:
    """The grid's rows by (dimension, value)."""
    out: dict[Key, Value] = defaultdict(Value)
    for r in rows:
        v = out[(str(r["dim"]), str(r["value"]))]
        part = int(r.get("part", 1))
        if part == 2:  # a money row
            v.money[r["currency"] or None] = Decimal(r["money"])
            continue
        if part == 3:  # samples ("slow")
            v.durations = [float(d) for d in r["durs"]]
            v.durations_before = [float(d) for d in r["durs_prev"]]
            v.sample = [(float(d), frozenset((str(a), str(b)) for a, b in dims)) for d, dims in r["units_sample"]]
            continue
        v.sel += int(r["sel_n"])
        v.base += int(r["base_n"])
        v.hits[int(r["bucket"])] += int(r["hits_n"])
        v.units[int(r["bucket"])] += int(r["all_n"])
    return dict(out)


def series(total: Value, buckets: int) -> tuple[list[int], list[int]]:
    """Subject units and all units per bucket of the asked window (from the totals' row)."""
    return [total.hits.get(b, 0) for b in range(buckets)], [total.units.get(b, 0) for b in range(buckets)]
