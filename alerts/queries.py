"""All SQL of the alerts component. Values always go through binding (``{name:Type}``).

Rule queries take ``{now_ms:Int64}`` (the evaluation time, so a fake clock works against
stored data) and return label columns, a ``value`` and optionally ``examples``
(Array(String) of correlation IDs, the oldest or slowest first; they go to annotations,
never labels). They return
only the rows that should alert (like a PromQL alerting expression).
"""

from __future__ import annotations

from lineage.scope import in_scope

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
TABLE_EXISTS = """
SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = {name:String}
"""

# -- scope (alerts/scoped.py) --------------------------------------------------------------
# Which of some example correlation IDs have a hop in the caller's scope (primary-key seeks).
IN_SCOPE_IDS = f"""
SELECT DISTINCT CorrelationId FROM hops
WHERE CorrelationId IN {{ids:Array(String)}} AND {in_scope()}
"""

# -- rule kinds ---------------------------------------------------------------------------
# Posting latency: from the "from" step of an entity to the "to" step of a hop whose parent
# is that entity (works across correlation IDs), for postings that ended in the window.
_POSTS = f"""
WITH posts AS (
    SELECT CorrelationId AS cid, toString(ParentType) AS pt, pid, EndTime, toString(System) AS system,
        toString(Region) AS region
    FROM hops FINAL ARRAY JOIN ParentIds AS pid
    WHERE Step = {{to_step:String}} AND Outcome = 'ok'
        AND EndTime >= {_NOW} - toIntervalSecond({{window_s:Int64}}) AND EndTime < {_NOW}
),
issued AS (
    SELECT toString(EntityType) AS et, EntityId AS eid, min(EndTime) AS issued_at,
        toString(any(Region)) AS region
    FROM hops FINAL
    WHERE Step = {{from_step:String}} AND Outcome = 'ok'
        AND StartTime >= {_NOW} - toIntervalSecond({{window_s:Int64}}) - INTERVAL 7 DAY AND StartTime < {_NOW}
        AND (toString(EntityType), EntityId) IN (SELECT pt, pid FROM posts)
    GROUP BY EntityType, EntityId
),
lat AS (
    SELECT p.cid AS cid, p.system AS system, if(p.region != '', p.region, i.region) AS region,
        toUnixTimestamp64Milli(p.EndTime) AS end_ms,
        toUnixTimestamp64Milli(p.EndTime) - toUnixTimestamp64Milli(i.issued_at) AS lat_ms
    FROM posts AS p INNER JOIN issued AS i ON i.et = p.pt AND i.eid = p.pid
)
"""
POSTING_LATENCY = {
    by: _POSTS
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
    _POSTS
    + """
SELECT sumForEach(arrayMap(w -> toUInt64(end_ms >= {now_ms:Int64} - w * 1000), {windows_s:Array(Int64)})) AS total,
    sumForEach(arrayMap(w -> toUInt64(end_ms >= {now_ms:Int64} - w * 1000 AND lat_ms > {target_ms:Int64}),
        {windows_s:Array(Int64)})) AS bad,
    arrayMap(x -> x.2, groupArraySortedIf(5)((-lat_ms, cid), lat_ms > {target_ms:Int64})) AS examples
FROM lat
"""
)

# Exceptions: one per (entity, step) with a failed/retried/dead-lettered attempt; closed
# when a later attempt succeeded or (if the lineage table exists) a person resolved it.
# All three metrics come back (size, growth, oldest_age); the rule picks its ``value``, so
# backlog, growth and age rules share one query.
_EXC = f"""
WITH g AS (
    SELECT toString(argMaxIf(System, StartTime, Outcome != 'ok')) AS system,
        toString(argMaxIf(Region, StartTime, Outcome != 'ok')) AS region,
        toString(argMaxIf(ErrorCategory, StartTime, ErrorCategory != '')) AS category,
        argMaxIf(CorrelationId, StartTime, Outcome != 'ok') AS cid,
        lower(leftPad(hex(cityHash64(toString(EntityType), EntityId, toString(Step))), 16, '0')) AS id,
        toUnixTimestamp64Milli(minIf(StartTime, Outcome != 'ok')) AS first_ms,
        maxIf(StartTime, Outcome != 'ok') AS last_fail,
        countIf(Outcome = 'ok') > 0 AND maxIf(StartTime, Outcome = 'ok') > last_fail AS auto_resolved,
        toUnixTimestamp64Milli(argMaxIf(EndTime, StartTime, Outcome = 'ok')) AS ok_ms
    FROM hops FINAL
    WHERE StartTime >= {_NOW} - toIntervalSecond({{lookback_s:Int64}}) AND StartTime < {_NOW}
        AND (EntityType, EntityId, Step) IN (
            SELECT EntityType, EntityId, Step FROM hops WHERE Outcome != 'ok'
            AND StartTime >= {_NOW} - toIntervalSecond({{lookback_s:Int64}}) AND StartTime < {_NOW})
    GROUP BY EntityType, EntityId, Step
)__ACTIONS__,
x AS (SELECT *, __CLOSED__ AS closed_ms FROM g__JOIN__)
"""
_WITH_ACTIONS = f""",
a AS (
    SELECT ExceptionId, toString(argMax(Action, At)) AS action, toUnixTimestamp64Milli(max(At)) AS action_ms
    FROM exception_actions WHERE At < {_NOW} AND ExceptionId IN (SELECT id FROM g) GROUP BY ExceptionId
)"""
_OPEN_NOW = "(closed_ms = 0 OR closed_ms > {now_ms:Int64})"
_OPEN_THEN = (
    "(first_ms <= {now_ms:Int64} - {growth_s:Int64} * 1000 "
    "AND (closed_ms = 0 OR closed_ms > {now_ms:Int64} - {growth_s:Int64} * 1000))"
)
_EXC_SELECT = f"""
SELECT __BY__, toFloat64(countIf({_OPEN_NOW})) AS size, size - countIf({_OPEN_THEN}) AS growth,
    ({{now_ms:Int64}} - minIf(first_ms, {_OPEN_NOW})) / 1000.0 AS oldest_age,
    arrayMap(x -> x.2, groupArraySortedIf(5)((first_ms, cid), {_OPEN_NOW})) AS examples
FROM x GROUP BY __BY__ HAVING countIf({_OPEN_NOW}) > 0
ORDER BY __BY__ LIMIT {{limit:UInt32}}
"""


def _exceptions(by: str, actions: bool) -> str:
    closed = (
        (
            "multiIf(auto_resolved, ok_ms, a.action = 'resolve' AND a.action_ms >= toUnixTimestamp64Milli("
            "last_fail), a.action_ms, 0)"
        )
        if actions
        else "if(auto_resolved, ok_ms, 0)"
    )
    sql = _EXC.replace("__ACTIONS__", _WITH_ACTIONS if actions else "").replace("__CLOSED__", closed)
    sql = sql.replace("__JOIN__", " AS g LEFT JOIN a ON a.ExceptionId = g.id" if actions else "")
    return sql + _EXC_SELECT.replace("__BY__", by)


EXCEPTIONS = {
    (by, actions): _exceptions(by, actions) for by in ("system", "region", "category") for actions in (False, True)
}

# SLA breaches per stage: the parent step completed in the window, and the stage's step on
# a child of that entity completed after the SLA, or has not completed and the SLA passed.
SLA_BREACHES = f"""
WITH parents AS (
    SELECT toString(EntityType) AS et, EntityId AS eid, toString(Step) AS pstep,
        toUnixTimestamp64Milli(min(EndTime)) AS done_ms, any(CorrelationId) AS cid
    FROM hops FINAL
    WHERE Outcome = 'ok' AND has({{parent_steps:Array(String)}}, toString(Step))
        AND EndTime >= {_NOW} - toIntervalSecond({{window_s:Int64}}) AND EndTime < {_NOW}
    GROUP BY EntityType, EntityId, Step
),
children AS (
    SELECT toString(ParentType) AS pt, pid, toString(Step) AS step, toUnixTimestamp64Milli(min(EndTime)) AS done_ms
    FROM hops FINAL ARRAY JOIN ParentIds AS pid
    WHERE Outcome = 'ok' AND has({{steps:Array(String)}}, toString(Step))
        AND EndTime >= {_NOW} - toIntervalSecond({{window_s:Int64}}) AND EndTime < {_NOW}
    GROUP BY pt, pid, step
),
expected AS (
    SELECT p.*, arrayJoin(arrayFilter(i -> {{parent_steps:Array(String)}}[i] = p.pstep,
        arrayEnumerate({{parent_steps:Array(String)}}))) AS idx,
        {{steps:Array(String)}}[idx] AS step, {{names:Array(String)}}[idx] AS stage,
        {{slas_ms:Array(Int64)}}[idx] AS sla_ms
    FROM parents AS p
)
SELECT {{flow:String}} AS flow, e.stage AS stage, toFloat64(count()) AS value,
    arrayMap(x -> x.2, groupArraySorted(5)((e.done_ms, e.cid))) AS examples
FROM expected AS e LEFT JOIN children AS c ON c.pt = e.et AND c.pid = e.eid AND c.step = e.step
WHERE if(c.step = '', {{now_ms:Int64}} - e.done_ms > e.sla_ms, c.done_ms - e.done_ms > e.sla_ms)
GROUP BY stage
ORDER BY stage LIMIT {{limit:UInt32}}
"""

# Stuck: transactions started in the lookback, idle for longer than the limit, that never
# reached the final step themselves nor had an entity posted by another transaction.
STUCK = f"""
WITH txn AS (
    SELECT CorrelationId AS cid, max(EndTime) AS last_at, toString(argMax(System, EndTime)) AS system,
        countIf(Step = {{final_step:String}} AND Outcome = 'ok') > 0 AS done_here
    FROM hops FINAL
    WHERE StartTime >= {_NOW} - toIntervalSecond({{lookback_s:Int64}}) AND StartTime < {_NOW} AND CorrelationId != ''
    GROUP BY CorrelationId
),
posted AS (
    SELECT DISTINCT toString(ParentType) AS pt, pid FROM hops FINAL ARRAY JOIN ParentIds AS pid
    WHERE Step = {{final_step:String}} AND Outcome = 'ok'
        AND StartTime >= {_NOW} - toIntervalSecond({{lookback_s:Int64}}) AND StartTime < {_NOW}
)
SELECT system, toFloat64(count()) AS value, arrayMap(x -> x.2, groupArraySorted(5)((last_at, cid))) AS examples
FROM txn
WHERE NOT done_here AND last_at < {_NOW} - toIntervalSecond({{older_than_s:Int64}})
    AND cid NOT IN (
        SELECT DISTINCT CorrelationId FROM hops
        WHERE StartTime >= {_NOW} - toIntervalSecond({{lookback_s:Int64}}) AND StartTime < {_NOW}
            AND (toString(EntityType), EntityId) IN (SELECT pt, pid FROM posted))
GROUP BY system
ORDER BY system LIMIT {{limit:UInt32}}
"""

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
