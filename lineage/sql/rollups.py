"""SQL of the per-minute hop rollup (lineage/core/rollups.py explains the design).

``hop_rollup`` holds, per minute of end time and per (step, flow, system, region, legal entity,
outcome, error category, currency, compensation), the distinct hops, the hops carrying an
amount, their exact sum (Decimal) and a quantileDD sketch of hop duration. A minute's rows are
always computed from ``hop_times FINAL`` (the dedup point: a span delivered twice is one row),
never added to on insert: ``hop_rollup_dirty_mv`` only marks the minutes an insert touched, and
``hop_rollup_seal`` (a refreshable materialized view, run by ClickHouse every minute) recomputes
the marked minutes. A reader takes a minute from the rollup only when it is *covered*: no mark
newer than the rollup's watermark (``Covers``); any other minute it reads from hop_times.
"""

from __future__ import annotations

from lineage.core.scope import in_scope

# Relative accuracy of the duration sketches: 0.5%, inside the 1% the figures promise.
DD_ACCURACY = 0.005
# An insert's mark and its rows are not committed atomically: a seal only claims to cover the
# marks older than this (ms) before it started, and recomputes the newer ones next time.
SEAL_MARGIN_MS = 120_000

_KEY = "Step, Minute, Flow, System, Region, LegalEntity, Outcome, ErrorCategory, Currency, Compensation"
KEY_COLUMNS = tuple(c.strip() for c in _KEY.split(","))

CREATE_ROLLUP = f"""
CREATE TABLE IF NOT EXISTS hop_rollup (
    Step LowCardinality(String),
    Minute DateTime,
    Flow LowCardinality(String),
    System LowCardinality(String),
    Region LowCardinality(String),
    LegalEntity LowCardinality(String),
    Outcome LowCardinality(String),
    ErrorCategory LowCardinality(String),
    Currency LowCardinality(String),
    Compensation UInt8,
    Hops UInt64,
    Amounts UInt64,
    Amount Decimal128(9),
    Duration AggregateFunction(quantileDD({DD_ACCURACY}, 0.5), UInt64),
    Sealed UInt64,
    Covers UInt64
) ENGINE = ReplacingMergeTree(Sealed)
PARTITION BY toYYYYMM(Minute)
ORDER BY ({_KEY})
"""

# One row per minute an insert into hop_times touched (merged to the latest mark).
CREATE_DIRTY = """
CREATE TABLE IF NOT EXISTS hop_rollup_dirty (
    Minute DateTime,
    At SimpleAggregateFunction(max, DateTime64(3))
) ENGINE = AggregatingMergeTree
ORDER BY Minute
"""
CREATE_DIRTY_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS hop_rollup_dirty_mv TO hop_rollup_dirty AS
SELECT toStartOfMinute(EndTime) AS Minute, max(now64(3)) AS At FROM hop_times GROUP BY Minute
"""

# The rollup rows of some minutes, recomputed from the deduplicated hops. ``__MINUTES__`` is a
# condition on ``Minute``. Amounts are summed as Decimal from the shortest text of the stored
# amount (the digits the client sent), so 0.1 + 0.2 is 0.3.
_RECOMPUTE = f"""
SELECT Step, toStartOfMinute(EndTime) AS Minute, Flow, System, Region, LegalEntity, Outcome, ErrorCategory,
    Currency, toUInt8(Compensates != '') AS Compensation,
    count() AS Hops, count(Money) AS Amounts, sum(ifNull(Money, toDecimal128(0, 9))) AS Amount,
    quantileDDState({DD_ACCURACY}, 0.5)(DurationUs) AS Duration
FROM (
    SELECT *, toDecimal128OrNull(toString(Amount), 9) AS Money,
        toUInt64(greatest(0, toUnixTimestamp64Micro(EndTime) - toUnixTimestamp64Micro(StartTime))) AS DurationUs
    FROM hop_times FINAL
    WHERE __MINUTES__
)
GROUP BY {_KEY}
"""

# The rollup's watermark: every mark older than it is in the rollup (0: never sealed). Kept by
# a view on the rollup's inserts in a one-row table, so readers need not scan the rollup for it.
CREATE_WATERMARK = """
CREATE TABLE IF NOT EXISTS hop_rollup_watermark (
    Id UInt8,
    Covers SimpleAggregateFunction(max, UInt64)
) ENGINE = AggregatingMergeTree
ORDER BY Id
"""
CREATE_WATERMARK_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS hop_rollup_watermark_mv TO hop_rollup_watermark AS
SELECT toUInt8(0) AS Id, max(Covers) AS Covers FROM hop_rollup
"""
WATERMARK = "(SELECT max(Covers) FROM hop_rollup_watermark)"
# Minutes marked at or after the watermark: read raw until a seal covers them.
_PENDING = f"(SELECT DISTINCT Minute FROM hop_rollup_dirty WHERE toUnixTimestamp64Milli(At) >= {WATERMARK})"

# A seal: the marked minutes newer than the watermark, recomputed. Run by the refreshable view
# (margin SEAL_MARGIN_MS) or directly (lineage/core/rollups.py ``seal``).
SEAL_SELECT = (
    "SELECT *, toUnixTimestamp64Milli(now64(3)) AS Sealed,"
    " toUInt64(greatest(0, toUnixTimestamp64Milli(now64(3)) - {margin_ms:UInt64})) AS Covers FROM ("
    + _RECOMPUTE.replace("__MINUTES__", f"toStartOfMinute(EndTime) IN {_PENDING}")
    + ")"
)
SEAL = f"INSERT INTO hop_rollup {SEAL_SELECT}"
CREATE_SEAL_VIEW = (
    "CREATE MATERIALIZED VIEW IF NOT EXISTS hop_rollup_seal REFRESH EVERY 1 MINUTE APPEND TO hop_rollup AS "
    + SEAL_SELECT.replace("{margin_ms:UInt64}", str(SEAL_MARGIN_MS))
)
STOP_SEAL = "SYSTEM STOP VIEW hop_rollup_seal"
EXISTS = "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'hop_rollup_watermark'"
# The migration's backfill: every stored minute, covered as of now (nothing ingests meanwhile).
BACKFILL = (
    "INSERT INTO hop_rollup SELECT *, toUnixTimestamp64Milli(now64(3)) AS Sealed, "
    "toUnixTimestamp64Milli(now64(3)) AS Covers FROM (" + _RECOMPUTE.replace("__MINUTES__", "1") + ")"
)

# -- verify ----------------------------------------------------------------------------------
# Every covered minute of [since, until): the stored rows against a recomputation, key by key;
# the first difference in (minute, key) order. Sketches compare by their p50/p95/p99.
_QS = f"quantilesDDMerge({DD_ACCURACY}, 0.5, 0.95, 0.99)(Duration)"
_WINDOW = (
    "Minute >= toStartOfMinute(fromUnixTimestamp64Milli({since_ms:Int64})) "
    "AND Minute < fromUnixTimestamp64Milli({until_ms:Int64})"
)
_COVERED = f"{WATERMARK} > 0 AND Minute NOT IN {_PENDING}"
_OTHER = [c for c in KEY_COLUMNS if c != "Minute"]
_JOIN_ON = " AND ".join(f"s.{c} = r.{c}" for c in KEY_COLUMNS)
_RAW_WINDOW = (
    "toStartOfMinute(EndTime) >= toStartOfMinute(fromUnixTimestamp64Milli({since_ms:Int64})) "
    "AND EndTime < fromUnixTimestamp64Milli({until_ms:Int64})"
)
VERIFY = f"""
WITH stored AS (
    SELECT {_KEY}, Hops, Amounts, Amount, {_QS} AS Durations, 1 AS present FROM hop_rollup FINAL
    WHERE {_WINDOW} AND {_COVERED} AND Hops > 0
    GROUP BY {_KEY}, Hops, Amounts, Amount
),
raw AS (
    SELECT {_KEY}, Hops, Amounts, Amount, {_QS} AS Durations, 1 AS present
    FROM ({_RECOMPUTE.replace("__MINUTES__", _RAW_WINDOW)})
    WHERE {_COVERED}
    GROUP BY {_KEY}, Hops, Amounts, Amount
)
SELECT toUnixTimestamp64Milli(toDateTime64(if(s.present = 1, s.Minute, r.Minute), 3)) AS minute_ms,
    {", ".join(f"toString(if(s.present = 1, s.{c}, r.{c})) AS {c}" for c in _OTHER)},
    s.present = 1 AS in_rollup, r.present = 1 AS in_raw,
    s.Hops AS rollup_hops, r.Hops AS raw_hops, s.Amounts AS rollup_amounts, r.Amounts AS raw_amounts,
    toString(s.Amount) AS rollup_amount, toString(r.Amount) AS raw_amount,
    s.Durations AS rollup_durations, r.Durations AS raw_durations,
    count() OVER () AS mismatches
FROM stored AS s FULL OUTER JOIN raw AS r ON {_JOIN_ON}
WHERE NOT (in_rollup AND in_raw AND s.Hops = r.Hops AND s.Amounts = r.Amounts AND s.Amount = r.Amount
    AND s.Durations = r.Durations)
ORDER BY minute_ms, {", ".join(_OTHER)}
LIMIT 1
"""
VERIFY_COUNTS = f"""
SELECT countIf({_COVERED}) AS covered, countIf(NOT ({_COVERED})) AS pending FROM (
    SELECT DISTINCT Minute FROM hop_rollup WHERE {_WINDOW}
    UNION DISTINCT
    SELECT DISTINCT toStartOfMinute(EndTime) AS Minute FROM hop_times
    WHERE EndTime >= toStartOfMinute(fromUnixTimestamp64Milli({{since_ms:Int64}}))
        AND EndTime < fromUnixTimestamp64Milli({{until_ms:Int64}})
)
"""

# -- readers ----------------------------------------------------------------------------------
# Whether a minute (a DateTime expression) is read from the rollup by a bucketed window query:
# covered, wholly inside [since, until), and wholly inside one bucket of (origin, bucket).
_MS = "toUnixTimestamp64Milli(toDateTime64({m}, 3))"


def served(minute: str) -> str:
    """SQL: ``minute`` is taken from the rollup (else its hops are read from hop_times)."""
    ms = _MS.format(m=minute)
    return (
        f"({WATERMARK} > 0 AND {ms} >= {{since_ms:Int64}} AND {ms} + 60000 <= {{until_ms:Int64}}"
        f" AND intDiv({ms} - {{origin_ms:Int64}}, {{bucket_ms:Int64}})"
        f" = intDiv({ms} + 59999 - {{origin_ms:Int64}}, {{bucket_ms:Int64}})"
        f" AND {minute} NOT IN {_PENDING})"
    )


# Buckets on whole minutes, or the window as one bucket (an alert's): only the window's ragged
# ends straddle a bucket edge.
_ALIGNED = (
    "(({bucket_ms:Int64} % 60000 = 0 AND {origin_ms:Int64} % 60000 = 0)"
    " OR ({origin_ms:Int64} = {since_ms:Int64} AND {bucket_ms:Int64} >= {until_ms:Int64} - {since_ms:Int64}))"
)
_FIRST_PENDING = f"(SELECT ifNull(minOrNull(Minute), toDateTime(4000000000)) FROM {_PENDING})"


def unserved_range(end: str = "EndTime") -> str:
    """SQL over the end time of a raw row: a superset of the rows :func:`served` leaves to the raw
    read, as time ranges (the window's partial first and last minutes, everything from the first
    minute marked since the seal), so the primary key skips the rest of the window."""
    return (
        f"(NOT {_ALIGNED} OR {WATERMARK} = 0"
        f" OR {end} < toStartOfMinute(fromUnixTimestamp64Milli({{since_ms:Int64}})) + INTERVAL 1 MINUTE"
        f" OR {end} >= toStartOfMinute(fromUnixTimestamp64Milli({{until_ms:Int64}}))"
        f" OR {end} >= {_FIRST_PENDING})"
    )


IN_SCOPE = in_scope()
