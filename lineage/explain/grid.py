"""The one-pass answer of ``queries.grid`` read back: per dimension value, its counts summed
over the buckets, its money per currency and its counts per bucket. Pure."""

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
        if r["bucket"] is None:  # a money row
            v.money[r["currency"] or None] = Decimal(r["money"])
            continue
        v.sel += int(r["sel_n"])
        v.base += int(r["base_n"])
        v.hits[int(r["bucket"])] += int(r["hits_n"])
        v.units[int(r["bucket"])] += int(r["all_n"])
    return dict(out)


def series(total: Value, buckets: int) -> tuple[list[int], list[int]]:
    """Subject units and all units per bucket of the asked window (from the totals' row)."""
    return [total.hits.get(b, 0) for b in range(buckets)], [total.units.get(b, 0) for b in range(buckets)]
