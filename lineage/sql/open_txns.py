"""SQL of the open-transactions index (lineage/core/open_txns.py explains the design).

``open_txns`` holds, per day of hop start and per (correlation ID, flow, legal entity, region),
the first and last start of those hops and, per (entity type | step) completed, the latest start
of its successful hops. Every column is an idempotent aggregate (min, max, maxMap), so the view
that adds each insert of hop_times is exact under a span delivered twice (the same values
again) and a hop days late (it merges into its own day's row); a transaction's completion (its
flow's last required stage done) closes its rows for the stuck list, which reads only the rows
that are still open. Values always go through binding; scope is applied in SQL on the row's
legal entity and region, exactly as on the hops it aggregates.
"""

from __future__ import annotations

from lineage.core.scope import in_scope

_KEY = "Day, CorrelationId, Flow, LegalEntity, Region"
KEY_COLUMNS = tuple(c.strip() for c in _KEY.split(","))

CREATE = f"""
CREATE TABLE IF NOT EXISTS open_txns (
    Day Date,
    CorrelationId String,
    Flow LowCardinality(String),
    LegalEntity LowCardinality(String),
    Region LowCardinality(String),
    FirstStart SimpleAggregateFunction(min, Int64),
    LastStart SimpleAggregateFunction(max, Int64),
    OkStarts SimpleAggregateFunction(maxMap, Tuple(Array(String), Array(Int64)))
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(Day)
ORDER BY ({_KEY})
"""

# The rows of some hops (``__SOURCE__``): the view over each insert, the backfill and verify.
_ROWS = f"""
SELECT toDate(StartTime) AS Day, CorrelationId, Flow, LegalEntity, Region,
    min(toUnixTimestamp64Milli(StartTime)) AS FirstStart, max(toUnixTimestamp64Milli(StartTime)) AS LastStart,
    maxMapIf(([concat(toString(EntityType), '|', toString(Step))], [toUnixTimestamp64Milli(StartTime)]),
             Outcome = 'ok') AS OkStarts
FROM __SOURCE__
GROUP BY {_KEY}
"""
CREATE_MV = "CREATE MATERIALIZED VIEW IF NOT EXISTS open_txns_mv TO open_txns AS " + _ROWS.replace(
    "__SOURCE__", "hop_times"
)
# The migration's backfill from what is stored (nothing ingests meanwhile; the view comes after).
BACKFILL = "INSERT INTO open_txns " + _ROWS.replace("__SOURCE__", "hop_times FINAL")
EXISTS = "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'open_txns'"

# -- the stuck list's candidates ----------------------------------------------------------------
_SINCE, _UNTIL, _SCAN = "{since_ms:Int64}", "{until_ms:Int64}", "{scan_until_ms:Int64}"
# Whether a row holds a successful hop of its flow's last required stage (the flow named on the
# hop, else the default flow, as facts_queries._TERMINAL_OK) that started in [since, scan_until):
# the one completion the raw candidates (facts_queries.CANDIDATES) leave out.
_TERMINAL = (
    "transform(if(has({flow_names:Array(String)}, toString(Flow)), toString(Flow), {default_flow:String}),"
    " {flow_names:Array(String)}, {terminal_keys:Array(String)}, '')"
)
_CLOSED = f"arrayExists((k, t) -> k = {_TERMINAL} AND t >= {_SINCE} AND t < {_SCAN}, OkStarts.1, OkStarts.2)"
# Correlation IDs with an in-scope hop started in the window [since, scan_until) whose first such
# hop can have started before {until} and with no in-scope completion in the window: a superset
# of facts_queries.CANDIDATES (the aggregate of its hops is read from this index, one row per
# transaction and day, not from hop_times), at most {limit}. A row's day bounds its starts, so
# only the window's days are read; the flow, system and region filters are left to the facts.
CANDIDATES = f"""
SELECT CorrelationId FROM open_txns FINAL
WHERE Day >= toDate(fromUnixTimestamp64Milli({_SINCE})) AND Day <= toDate(fromUnixTimestamp64Milli({_SCAN}))
    AND {in_scope()}
GROUP BY CorrelationId
HAVING countIf(LastStart >= {_SINCE} AND FirstStart < {_UNTIL} AND FirstStart < {_SCAN}) > 0
    AND countIf({_CLOSED}) = 0
LIMIT {{limit:UInt32}}
"""

# The rows of the window's days (about one per transaction and day: the raw query's work is
# proportional to it), for choosing between the index and the window's query.
WINDOW_ROWS = f"""
SELECT count() FROM open_txns
WHERE Day >= toDate(fromUnixTimestamp64Milli({_SINCE})) AND Day <= toDate(fromUnixTimestamp64Milli({_SCAN}))
"""

# -- verify -------------------------------------------------------------------------------------
# Every row of the days [since, until) against a recomputation from hop_times FINAL, key by key;
# the first difference in key order.
_DAYS = (
    "Day >= toDate(fromUnixTimestamp64Milli({since_ms:Int64}))"
    " AND Day < toDate(fromUnixTimestamp64Milli({until_ms:Int64})) + 1"
)
_JOIN_ON = " AND ".join(f"s.{c} = r.{c}" for c in KEY_COLUMNS)
_RAW = _ROWS.replace(
    "__SOURCE__",
    "hop_times FINAL WHERE toDate(StartTime) >= toDate(fromUnixTimestamp64Milli({since_ms:Int64}))"
    " AND toDate(StartTime) < toDate(fromUnixTimestamp64Milli({until_ms:Int64})) + 1",
)
VERIFY = f"""
WITH stored AS (SELECT *, 1 AS present FROM open_txns FINAL WHERE {_DAYS}),
raw AS (SELECT *, 1 AS present FROM ({_RAW}))
SELECT toString(if(s.present = 1, s.Day, r.Day)) AS day,
    {", ".join(f"toString(if(s.present = 1, s.{c}, r.{c})) AS {c}" for c in KEY_COLUMNS if c != "Day")},
    s.present = 1 AS in_index, r.present = 1 AS in_raw,
    s.FirstStart AS index_first, r.FirstStart AS raw_first, s.LastStart AS index_last, r.LastStart AS raw_last,
    s.OkStarts AS index_oks, r.OkStarts AS raw_oks,
    count() OVER () AS mismatches
FROM stored AS s FULL OUTER JOIN raw AS r ON {_JOIN_ON}
WHERE NOT (in_index AND in_raw AND s.FirstStart = r.FirstStart AND s.LastStart = r.LastStart
    AND s.OkStarts = r.OkStarts)
ORDER BY day, {", ".join(c for c in KEY_COLUMNS if c != "Day")}
LIMIT 1
"""
VERIFY_COUNT = f"SELECT count() FROM open_txns FINAL WHERE {_DAYS}"
