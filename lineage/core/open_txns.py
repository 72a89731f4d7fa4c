"""The open-transactions index: the stuck list and the stuck alert rule at the cost of the
transactions still open, not of every hop of their window.

Today's raw answer (``domain.assess`` with ``keep="stuck"``) reads every hop of the window from
hop_times twice: once for the candidates (facts_queries.CANDIDATES: correlation IDs with an
in-scope hop started in the window, less those with an in-scope successful hop of their flow's
last required stage there) and once to aggregate them. The index (lineage/sql/open_txns.py)
holds that first aggregate, maintained by ClickHouse as hops arrive: one row per day of hop
start and (correlation ID, flow, legal entity, region), with the first and last start and, per
stage key (entity type | step), the latest start of its successful hops. Its aggregates are
idempotent, so:

- a span delivered twice is the same row again (min, max and maxMap do not count);
- a hop days late merges into its own day's row; a late completion closes the transaction (its
  row now holds the terminal stage's success) and a replay that succeeds is such a completion;
- scope applies in SQL on the rows' legal entity and region, as it does on the hops; a
  transaction whose completion lies outside the caller's scope stays open to that caller, as in
  the raw answer.

The stuck list reads the rows of the window's days that are not closed (:data:`CANDIDATES` is a
superset of the raw candidates: it leaves out only what they leave out), and aggregates those
transactions' facts by correlation ID (facts_queries.FACTS_FOR_PAGE, with the window and the
adopted completions of other correlation IDs, e.g. batch journals): the verdicts are the raw
ones. Completed transactions stay stored (one narrow row a transaction and day, merged by
ClickHouse) but are skipped by their closed flag; only the open ones are aggregated.

:func:`verify` recomputes the index's rows of a window from hop_times and returns the first
difference (``ledgerline verify --rollups``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collector.store import Migration, Store
from lineage.core import domain
from lineage.core.derive import evaluate, facts_from_row
from lineage.core.flows import FlowConfig
from lineage.core.scope import Scope
from lineage.sql import facts_queries
from lineage.sql import open_txns as q

MIGRATION = Migration(
    107,
    "open-transactions index (per day and correlation ID: starts and completions), kept by a view",
    (q.CREATE, q.BACKFILL, q.CREATE_MV),
)

# Candidates past this many: aggregating them by correlation ID costs more than the window's
# query (domain._BY_ID_COST against _IN_WINDOW_COST per transaction plus every hop), which then
# answers instead.
MAX_CANDIDATES = 20_000
_BATCH = 2000
# The window's query answers instead when the candidates are more than one in this many of the
# window's transactions. Measured (bench.alerts and bench.lineage stores, 1M-2M spans): a
# candidate's facts by correlation ID cost about 0.4 ms (a batch of 2,000 reads most of `hops`),
# a transaction of the window in its one pass 0.01-0.03 ms; at 10,000 candidates of 36,000
# transactions the index took 6.0-6.6 s where the window's query took 0.8-1.5 s.
_SHARE = 40


def by_index(candidates: int, window_rows: int) -> bool:
    """Whether the candidates' facts by correlation ID cost less than the window's one query."""
    return candidates <= MAX_CANDIDATES and candidates * _SHARE <= window_rows


def exists(store: Store) -> bool:
    """Whether the store has the index (migration 107 applied)."""
    return bool(store.query(q.EXISTS)[0][0])


def assess_stuck(
    store: Store,
    config: FlowConfig,
    scope: Scope,
    *,
    since_ms: int,
    until_ms: int,
    scan_until_ms: int,
    now_ms: int,
    max_rows: int,
    flow: str = "",
    system: str = "",
    region: str = "",
    timeout_s: float | None = None,
) -> domain.Listed:
    """What ``domain.assess(..., keep="stuck")`` returns (the same transactions, verdicts and
    order, and whether more than ``max_rows`` matched), from the index's open transactions."""
    window = {"since_ms": since_ms, "until_ms": until_ms, "scan_until_ms": scan_until_ms, "now_ms": now_ms}
    filters = {"flow": flow, "system": system, "region": region}
    params = domain._window_params(config, scope, "stuck", window, **filters)
    ids = [str(r[0]) for r in store.query(q.CANDIDATES, params | {"limit": MAX_CANDIDATES + 1}, timeout_s=timeout_s)]
    window_rows = int(store.query(q.WINDOW_ROWS, params, timeout_s=timeout_s)[0][0]) if ids else 0
    if ids and not by_index(len(ids), window_rows):
        kw: dict[str, Any] = window | filters | {"max_rows": max_rows, "timeout_s": timeout_s}
        return domain.assess(store, config, scope, keep="stuck", **kw)
    out: list[domain.Assessed] = []
    for at in range(0, len(ids), _BATCH):
        batch = {"open_only": 1, "ids": ids[at : at + _BATCH]}
        rows = store.query_dicts(facts_queries.FACTS_FOR_PAGE, params | batch, timeout_s=timeout_s)
        for row in rows:
            facts = facts_from_row(row)
            verdict = evaluate(config, facts, now_ms)
            if domain._kept("stuck", verdict):
                out.append(domain.Assessed(facts, verdict))
    out.sort(key=lambda a: (-a.facts.started_ms, a.facts.correlation_id))
    return out[:max_rows], len(out) > max_rows


def stuck_listing(
    store: Store, config: FlowConfig, scope: Scope, *, limit: int, max_rows: int, **window: Any
) -> domain.Listed:
    """The transactions listing with ``status=stuck`` (``domain.listing``), from the index."""
    assessed, truncated = assess_stuck(store, config, scope, max_rows=max_rows, **window)
    items = [a for a in assessed if a.verdict.status == "stuck"]
    return items[:limit], len(items) > limit or truncated


@dataclass(frozen=True)
class Mismatch:
    """The first index row that differs from its recomputation (absent on one side: ``None``)."""

    day: str
    key: dict[str, str]
    index: dict[str, Any] | None
    raw: dict[str, Any] | None

    def text(self) -> str:
        key = ", ".join(f"{k}={v!r}" for k, v in self.key.items())
        return f"open transactions, day {self.day}, key ({key}): index {self.index}, raw {self.raw}"


@dataclass(frozen=True)
class Report:
    """What :func:`verify` checked: the index's rows of the window's days, and the differences."""

    rows: int
    mismatches: int
    first: Mismatch | None


def _side(row: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    if not row[f"in_{prefix}"]:
        return None
    keys, starts = row[f"{prefix}_oks"]
    return {
        "first_start_ms": int(row[f"{prefix}_first"]),
        "last_start_ms": int(row[f"{prefix}_last"]),
        "completed": dict(zip(keys, (int(s) for s in starts), strict=True)),
    }


def verify(store: Store, since_ms: int, until_ms: int, timeout_s: float | None = None) -> Report:
    """Recompute the index's rows of the days of [since, until) from hop_times and compare."""
    params = {"since_ms": since_ms, "until_ms": until_ms}
    (count,) = store.query(q.VERIFY_COUNT, params, timeout_s=timeout_s)[0]
    rows = store.query_dicts(q.VERIFY, params, timeout_s=timeout_s)
    if not rows:
        return Report(int(count), 0, None)
    row = rows[0]
    key = {c: str(row[c]) for c in q.KEY_COLUMNS if c != "Day"}
    first = Mismatch(str(row["day"]), key, _side(row, "index"), _side(row, "raw"))
    return Report(int(count), int(row["mismatches"]), first)
