"""All SQL of the alerts component. Values always go through binding (``{name:Type}``).

Rule queries take ``{now_ms:Int64}`` (the evaluation time, so a fake clock works against
stored data) and return label columns, a ``value`` and optionally ``examples``
(Array(String) of correlation IDs, the oldest or slowest first; they go to annotations,
never labels). They return
only the rows that should alert (like a PromQL alerting expression).
"""

from __future__ import annotations

from lineage.core.scope import in_scope
from lineage.sql.exceptions import exceptions_cte
from lineage.sql.queries import POSTINGS_CTE

_NOW = "fromUnixTimestamp64Milli({now_ms:Int64})"

# -- schema (alerts/schema.py) ------------------------------------------------------------
CREATE_STATE = """
CREATE TABLE IF NOT EXISTS alert_state (
    Rule LowCardinality(String),
    Fingerprint String,
    Labels Map(String, String),
    Annotations Map(String, String),
    State LowCardinality(String),
    Value Float64,
    ActiveAt Int64, FiredAt Int64, ResolvedAt Int64, KeepFiringSince Int64, LastEvalAt Int64,
    Version UInt64
) ENGINE = ReplacingMergeTree(Version)
ORDER BY (Rule, Fingerprint)
"""
CREATE_HISTORY = """
CREATE TABLE IF NOT EXISTS alert_history (
    At DateTime64(3, 'UTC'),
    Rule LowCardinality(String),
    Fingerprint String,
    Labels Map(String, String),
    FromState LowCardinality(String),
    ToState LowCardinality(String),
    Reason String,
    Value Float64,
    RecordedAt DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree
ORDER BY (Rule, At, Fingerprint)
"""
CREATE_NFLOG = """
CREATE TABLE IF NOT EXISTS alert_nflog (
    Receiver LowCardinality(String),
    GroupKey String,
    Firing Array(String),
    Resolved Array(String),
    SentAt Int64,
    Version UInt64
) ENGINE = ReplacingMergeTree(Version)
ORDER BY (Receiver, GroupKey)
"""
CREATE_SILENCES = """
CREATE TABLE IF NOT EXISTS alert_silences (
    Id String,
    Matchers String,
    StartsAt Int64,
    EndsAt Int64,
    CreatedBy String,
    Comment String,
    Deleted UInt8,
    Version UInt64
) ENGINE = ReplacingMergeTree(Version)
ORDER BY Id
"""

# -- persistence (alerts/persist.py) -------------------------------------------------------
STATE_COLUMNS = (
    "Rule",
    "Fingerprint",
    "Labels",
    "Annotations",
    "State",
    "Value",
    "ActiveAt",
    "FiredAt",
    "ResolvedAt",
    "KeepFiringSince",
    "LastEvalAt",
    "Version",
)
SELECT_STATE = """
SELECT Rule, Fingerprint, Labels, Annotations, State, Value, ActiveAt, FiredAt, ResolvedAt,
    KeepFiringSince, LastEvalAt
FROM alert_state FINAL WHERE State != 'inactive'
"""
HISTORY_COLUMNS = ("At", "Rule", "Fingerprint", "Labels", "FromState", "ToState", "Reason", "Value")
SELECT_HISTORY = """
SELECT toUnixTimestamp64Milli(At) AS at_ms, Rule AS rule, Fingerprint AS fingerprint, Labels AS labels,
    FromState AS from_state, ToState AS to_state, Reason AS reason, Value AS value
FROM alert_history
WHERE ({rule:String} = '' OR Rule = {rule:String})
ORDER BY At, RecordedAt LIMIT {limit:UInt32}
"""
NFLOG_COLUMNS = ("Receiver", "GroupKey", "Firing", "Resolved", "SentAt", "Version")
SELECT_NFLOG = "SELECT Receiver, GroupKey, Firing, Resolved, SentAt FROM alert_nflog FINAL"
SILENCE_COLUMNS = ("Id", "Matchers", "StartsAt", "EndsAt", "CreatedBy", "Comment", "Deleted", "Version")
SELECT_SILENCES = """
SELECT Id, Matchers, StartsAt, EndsAt, CreatedBy, Comment FROM alert_silences FINAL
WHERE Deleted = 0 ORDER BY StartsAt, Id
"""
SELECT_SILENCE = """
SELECT Id, Matchers, StartsAt, EndsAt, CreatedBy, Comment FROM alert_silences FINAL
WHERE Id = {id:String} AND Deleted = 0
"""

# -- scope (alerts/scoped.py) --------------------------------------------------------------
# Which of some example correlation IDs have a hop in the caller's scope (primary-key seeks).
IN_SCOPE_IDS = f"""
SELECT DISTINCT CorrelationId FROM hops
WHERE CorrelationId IN {{ids:Array(String)}} AND {in_scope()}
"""

# -- rule kinds ---------------------------------------------------------------------------
# The business concepts come from lineage's domain layer (lineage/core/domain.py): the rules only
# aggregate what lineage defines. Stage SLAs and stuck transactions are evaluated in Python
# from the same transaction facts as the lineage API (alerts/kinds.py); posting latency and
# exceptions are selected from lineage's CTEs here. Rules see the whole store (the scope
# predicate of the CTEs is bound to "everything"; alerts/scoped.py cuts what a caller sees).

# Posting latency per system or region over [now - window, now): a quantile and the slowest.
POSTING_LATENCY = {
    by: POSTINGS_CTE
    + f"""
SELECT {by}, quantileExact({{quantile:Float64}})(lat_ms) / 1000.0 AS value,
    arrayMap(x -> x.2, groupArraySorted(5)((-lat_ms, cid))) AS examples
FROM lat GROUP BY {by}
ORDER BY {by} LIMIT {{limit:UInt32}}
"""
    for by in ("system", "region")
}

# Error ratios of postings per window length: bad = slower than the target.
SLO_RATIOS = (
    POSTINGS_CTE
    + """
SELECT sumForEach(arrayMap(w -> toUInt64(end_ms >= {now_ms:Int64} - w * 1000), {windows_s:Array(Int64)})) AS total,
    sumForEach(arrayMap(w -> toUInt64(end_ms >= {now_ms:Int64} - w * 1000 AND lat_ms > {target_ms:Int64}),
        {windows_s:Array(Int64)})) AS bad,
    arrayMap(x -> x.2, groupArraySortedIf(5)((-lat_ms, cid), lat_ms > {target_ms:Int64})) AS examples
FROM lat
"""
)

# Exceptions with a failure in [now - lookback, now), as lineage defines them. All three
# metrics come back (size, growth, oldest_age); the rule picks its ``value``, so backlog,
# growth and age rules share one query. Open = not closed by {now_ms} (acknowledged is open).
_OPEN_NOW = "(closed_ms = 0 OR closed_ms > {now_ms:Int64})"
_OPEN_THEN = (
    "(first_ms <= {now_ms:Int64} - {growth_s:Int64} * 1000 "
    "AND (closed_ms = 0 OR closed_ms > {now_ms:Int64} - {growth_s:Int64} * 1000))"
)
_EXC_WINDOW = (
    "StartTime >= fromUnixTimestamp64Milli({since_ms:Int64}) AND StartTime < fromUnixTimestamp64Milli({until_ms:Int64})"
)
_EXC_SELECT = f"""
SELECT __BY__, toFloat64(countIf({_OPEN_NOW})) AS size, size - countIf({_OPEN_THEN}) AS growth,
    ({{now_ms:Int64}} - minIf(first_ms, {_OPEN_NOW})) / 1000.0 AS oldest_age,
    arrayMap(x -> x.2, groupArraySortedIf(5)((first_ms, correlation_id), {_OPEN_NOW})) AS examples
FROM x GROUP BY __BY__ HAVING countIf({_OPEN_NOW}) > 0
ORDER BY __BY__ LIMIT {{limit:UInt32}}
"""
EXCEPTIONS = {
    by: exceptions_cte(_EXC_WINDOW, "fromUnixTimestamp64Milli({since_ms:Int64})") + _EXC_SELECT.replace("__BY__", by)
    for by in ("system", "region", "category")
}

# Silent systems: the inventory is every system seen in the lookback; each is silent when
# its last hop is older than its own period plus grace.
SILENT_SYSTEMS = f"""
SELECT toString(System) AS system,
    ({{now_ms:Int64}} - toUnixTimestamp64Milli(max(EndTime))) / 1000.0 AS value,
    [argMax(CorrelationId, EndTime)] AS examples
FROM hops
WHERE StartTime >= {_NOW} - toIntervalSecond({{lookback_s:Int64}}) AND StartTime < {_NOW} AND System != ''
GROUP BY System
HAVING value > transform(system, {{names:Array(String)}}, {{periods_s:Array(Float64)}}, {{period_s:Float64}})
        + {{grace_s:Float64}}
    AND NOT has({{exclude:Array(String)}}, system)
ORDER BY system LIMIT {{limit:UInt32}}
"""
