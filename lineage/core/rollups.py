"""The per-minute hop rollup: exact under duplicates, late hops, compensations and replays.

Why not a materialized view that adds each inserted hop to its minute: a span delivered twice
is two inserts, and a view on insert cannot see that the first one exists, so it would count
twice. Instead the rollup is computed from the dedup point, ``hop_times FINAL``, one minute at
a time (lineage/sql/rollups.py):

- every insert into hop_times marks the minutes it touched (``hop_rollup_dirty``, one row
  per minute, a few bytes a minute whatever the traffic);
- ClickHouse's refreshable view ``hop_rollup_seal`` recomputes, every minute, the minutes
  marked since the watermark and writes them with a new version (``ReplacingMergeTree``), so a
  minute's figures are always a recomputation, never a running sum: a duplicate is one row of
  hop_times FINAL, a hop days late marks its own minute and that minute is recomputed, a
  compensation and a replay are rows like any other;
- a reader takes a minute from the rollup only when it is covered (no mark newer than the
  watermark, which trails the seal by :data:`SEAL_MARGIN_MS` for inserts still committing),
  and reads every other minute (the open one, the edges of its window, minutes marked since
  the last seal) from hop_times: the answer is the raw answer, only cheaper.

:func:`verify` recomputes every covered minute of a window and returns the first difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collector.store import Migration, Store
from lineage.sql import rollups as q

MIGRATION = Migration(
    106,
    "per-minute hop rollup (counts, exact amounts, duration sketches), sealed by a refreshable view",
    (
        q.CREATE_ROLLUP,
        q.CREATE_WATERMARK,
        q.CREATE_WATERMARK_MV,
        q.CREATE_DIRTY,
        q.BACKFILL,
        q.CREATE_DIRTY_MV,
        q.CREATE_SEAL_VIEW,
    ),
)


def seal(store: Store, margin_ms: int = q.SEAL_MARGIN_MS) -> None:
    """Recompute the minutes marked since the watermark now (what the refreshable view does every
    minute). ``margin_ms=0`` trusts that no insert is still committing (tests, a stopped server)."""
    store.command(q.SEAL, {"margin_ms": margin_ms})


# Stop ClickHouse sealing in the background (benchmarks measuring the raw reads first).
STOP_SEAL = q.STOP_SEAL


@dataclass(frozen=True)
class Mismatch:
    """The first rollup row that differs from its recomputation (absent on one side: ``None``)."""

    minute_ms: int
    key: dict[str, str]
    rollup: dict[str, Any] | None
    raw: dict[str, Any] | None

    def text(self) -> str:
        from lineage.core.shape import iso

        key = ", ".join(f"{k}={v!r}" for k, v in self.key.items() if k != "Flow")
        where = f"flow {self.key['Flow']!r}, minute {iso(self.minute_ms)}, key ({key})"
        return f"{where}: rollup {self.rollup}, raw {self.raw}"


@dataclass(frozen=True)
class Report:
    """What :func:`verify` checked: covered minutes (compared), pending ones (read raw, skipped)."""

    covered: int
    pending: int
    mismatches: int
    first: Mismatch | None


def _side(row: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    if not row[f"in_{prefix}"]:
        return None
    return {
        "hops": int(row[f"{prefix}_hops"]),
        "amounts": int(row[f"{prefix}_amounts"]),
        "amount": row[f"{prefix}_amount"],
        "duration_p50_p95_p99_us": [round(float(x), 3) for x in row[f"{prefix}_durations"]],
    }


def exists(store: Store) -> bool:
    """Whether the store has the rollup (migration 106 applied)."""
    return bool(store.query(q.EXISTS)[0][0])


def verify(store: Store, since_ms: int, until_ms: int, timeout_s: float | None = None) -> Report:
    """Recompute every covered rollup minute of [since, until) from hop_times and compare."""
    params = {"since_ms": since_ms, "until_ms": until_ms}
    covered, pending = store.query(q.VERIFY_COUNTS, params, timeout_s=timeout_s)[0]
    rows = store.query_dicts(q.VERIFY, params, timeout_s=timeout_s)
    if not rows:
        return Report(int(covered), int(pending), 0, None)
    row = rows[0]
    key = {c: str(row[c]) for c in q.KEY_COLUMNS if c != "Minute"}
    first = Mismatch(int(row["minute_ms"]), key, _side(row, "rollup"), _side(row, "raw"))
    return Report(int(covered), int(pending), int(row["mismatches"]), first)
