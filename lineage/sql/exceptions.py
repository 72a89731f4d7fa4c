"""SQL of exceptions: the one definition of an exception and its state (``EXCEPTIONS_CTE``),
the listings, one exception, its trail, the backlog, and the amounts of their entities.
Values always go through binding; every read of hops keeps the caller's scope."""

from __future__ import annotations

from lineage.core.scope import in_scope
from lineage.sql.amounts import LATEST_AMOUNT, LATEST_CURRENCY
from lineage.sql.queries import EXC_ID

_SINCE = "fromUnixTimestamp64Milli({since_ms:Int64})"
_UNTIL = "fromUnixTimestamp64Milli({until_ms:Int64})"
_IN_SCOPE = in_scope()

# One exception per (entity type, entity id, step) with a failed, retried or dead-lettered
# attempt in the window (see exceptions_cte); its id is EXC_ID. It is closed by a later success or
# by a person's resolve after its last failure, as of {as_of_ms} (the alerts evaluate on
# their own clock). The one definition: lineage's listings and metrics and the alert rules
# (alerts/queries.py) all select from this CTE's ``x``.
EXCEPTIONS_CTE = f"""
WITH g AS (
    SELECT __LE_COLUMN__{EXC_ID} AS id, toString(EntityType) AS entity_type, EntityId AS entity_id,
        toString(Step) AS step,
        argMax(CorrelationId, StartTime) AS correlation_id,
        toString(argMaxIf(System, StartTime, Outcome != 'ok')) AS system,
        toString(argMaxIf(Region, StartTime, Outcome != 'ok')) AS region,
        toString(argMaxIf(ErrorCategory, StartTime, ErrorCategory != '')) AS category,
        toString(argMaxIf(Outcome, StartTime, Outcome != 'ok')) AS last_failure,
        -- (ties: a row written again by migration 104 beside its older copy, until they merge)
        argMaxIf(StatusMessage, (StartTime, StatusMessage != ''), Outcome != 'ok') AS message,
        minIf(StartTime, Outcome != 'ok') AS first_seen, maxIf(EndTime, Outcome != 'ok') AS last_seen,
        maxIf(StartTime, Outcome != 'ok') AS last_fail_start,
        uniqExact(TraceId, SpanId) AS attempts,
        countIf(Outcome = 'ok') > 0 AND maxIf(StartTime, Outcome = 'ok') > last_fail_start AS auto_resolved,
        argMaxIf(EndTime, StartTime, Outcome = 'ok') AS ok_end
    -- No FINAL: every aggregate here (min, max, argMax, uniqExact, "any ok") gives the same
    -- answer with a duplicated span, and FINAL would merge-sort every touched granule.
    -- Only attempts in scope count; an exception none of whose failures is in scope is not one.
    -- Attempts from the window's start on, read from hop_times by step and end time:
    -- hops is ordered by correlation ID, and the failing ones are spread over all of it.
    FROM hop_times
    WHERE EndTime >= __SINCE__ AND Step IN (SELECT Step FROM hop_failures WHERE __WINDOW__)
        AND (EntityType, EntityId, Step) IN (SELECT EntityType, EntityId, Step FROM hop_failures WHERE __WINDOW__)
        AND {_IN_SCOPE}
    GROUP BY EntityType, EntityId, Step__LE_GROUP__
    HAVING countIf(Outcome NOT IN ('ok', 'compensated')) > 0
),
-- The actions on the window's failures (a superset of g's ids, read from hop_failures: naming g
-- here would compute g a second time, while planning, to build the set).
a AS (
    SELECT ExceptionId, toString(argMax(Action, At)) AS action, max(At) AS action_at
    FROM exception_actions
    WHERE ExceptionId IN (SELECT {EXC_ID} FROM hop_failures WHERE __WINDOW__) AND Action IN ('ack', 'resolve')
        AND At <= fromUnixTimestamp64Milli({{as_of_ms:Int64}})
    GROUP BY ExceptionId
),
x AS (
    SELECT g.*, a.action AS action, a.action_at AS action_at,
        multiIf(auto_resolved, 'resolved',
                a.action = 'resolve' AND a.action_at >= g.last_fail_start, 'resolved',
                a.action = 'ack' AND a.action_at >= g.last_fail_start, 'acknowledged', 'open') AS state,
        multiIf(has({{transient:Array(String)}}, category), 1, has({{business:Array(String)}}, category), 0,
                {{unknown_transient:UInt8}}) AS recoverable,
        toUnixTimestamp64Milli(first_seen) AS first_ms, toUnixTimestamp64Milli(last_seen) AS last_ms,
        multiIf(auto_resolved, toUnixTimestamp64Milli(ok_end),
                state = 'resolved', toUnixTimestamp64Milli(a.action_at), 0) AS closed_ms
    FROM g LEFT JOIN a ON a.ExceptionId = g.id
)
"""


def exceptions_cte(window: str, since: str, by_legal_entity: bool = False) -> str:
    """EXCEPTIONS_CTE for failures matching ``window`` (SQL over hop_failures), their attempts
    read from ``since`` (a DateTime64 SQL expression no later than the window's start) on.
    ``by_legal_entity``: the exceptions of each legal entity apart (``legal_entity``), from its
    own attempts only, as a caller scoped to it alone sees them (the close gate's one pass)."""
    column, group = ("toString(LegalEntity) AS legal_entity, ", ", LegalEntity") if by_legal_entity else ("", "")
    return (
        EXCEPTIONS_CTE.replace("__WINDOW__", window)
        .replace("__SINCE__", since)
        .replace("__LE_COLUMN__", column)
        .replace("__LE_GROUP__", group)
    )


_EXC_COLS = """id, entity_type, entity_id, step, correlation_id, system, region, category, last_failure,
    message, first_ms, last_ms, closed_ms, attempts, state, recoverable"""
_EXC_FILTER = """
WHERE ({state:String} = '' OR state = {state:String})
    AND ({category:String} = '' OR category = {category:String})
    AND ({system:String} = '' OR system = {system:String})
"""

EXCEPTIONS_IN_WINDOW = (
    exceptions_cte(f"StartTime >= {_SINCE} AND StartTime < {_UNTIL}", _SINCE)
    + f"SELECT {_EXC_COLS} FROM x {_EXC_FILTER} ORDER BY last_ms DESC, id LIMIT {{limit:UInt32}}"
)
# EXCEPTIONS_IN_WINDOW of each legal entity apart: the first {limit} of each.
EXCEPTIONS_IN_WINDOW_BY_LEGAL_ENTITY = (
    exceptions_cte(f"StartTime >= {_SINCE} AND StartTime < {_UNTIL}", _SINCE, by_legal_entity=True)
    + f"SELECT {_EXC_COLS}, legal_entity FROM x {_EXC_FILTER}"
    + " ORDER BY last_ms DESC, id LIMIT {limit:UInt32} BY legal_entity"
)
EXCEPTION_BY_ID = (
    exceptions_cte(f"StartTime >= {_SINCE} AND {EXC_ID} = {{id:String}}", _SINCE) + f"SELECT {_EXC_COLS} FROM x LIMIT 1"
)
# The open exceptions of a window (EXCEPTIONS_IN_WINDOW's, state open: the at-risk route's) as
# aggregates, not bounded by the store's row cap (the gauges of /metrics/business count them
# all): per failing system and region, and the money of their entities per currency, each
# exception with its entity's latest amount in scope (lineage/core/money.py's rule; amount
# unknown: currency '' and 0).
_OPEN = exceptions_cte(f"StartTime >= {_SINCE} AND StartTime < {_UNTIL}", _SINCE)
OPEN_BY_PLACE = _OPEN + "SELECT system, region, count() AS n FROM x WHERE state = 'open' GROUP BY system, region"
OPEN_MONEY = (
    _OPEN
    + f""",
m AS (
    SELECT toString(EntityType) AS entity_type, EntityId AS entity_id,
        {LATEST_AMOUNT} AS amount, {LATEST_CURRENCY} AS currency
    FROM hops
    WHERE CorrelationId IN (SELECT correlation_id FROM x WHERE state = 'open')
        AND (toString(EntityType), EntityId) IN (SELECT entity_type, entity_id FROM x WHERE state = 'open')
        AND {_IN_SCOPE}
    GROUP BY EntityType, EntityId
)
SELECT currency, sum(amount) AS amount, count() AS n
FROM (
    SELECT m.amount IS NOT NULL AND NOT isNaN(ifNull(m.amount, 0)) AS known,
        if(known, m.currency, '') AS currency, if(known, ifNull(m.amount, 0), 0) AS amount
    FROM (SELECT entity_type, entity_id FROM x WHERE state = 'open') AS o
    LEFT JOIN m ON m.entity_type = o.entity_type AND m.entity_id = o.entity_id
)
GROUP BY currency
"""
)

# The latest ack/resolve on each of some exceptions (replay entries do not change the state).
EXCEPTION_ACTIONS = """
SELECT ExceptionId AS id, toString(argMax(Action, At)) AS action, toUnixTimestamp64Milli(max(At)) AS at_ms
FROM exception_actions WHERE ExceptionId IN {ids:Array(String)} AND Action IN ('ack', 'resolve')
GROUP BY ExceptionId
"""
EXCEPTION_HISTORY = """
SELECT toString(Action) AS action, Actor AS actor, Note AS note, toUnixTimestamp64Milli(At) AS at_ms
FROM exception_actions WHERE ExceptionId = {id:String} ORDER BY At, action LIMIT 1000
"""
# The tickets opened for some exceptions (alerts/tickets: ServiceNow, Jira), oldest first.
# The tickets of the given exceptions: one per receiver (a configured ticket system), bounded per
# exception, not overall: a gate's thousands of exceptions each keep theirs (a cap of 10,000 rows
# in all left some without their tickets, with nothing to tell).
EXCEPTION_TICKETS = """
SELECT ExceptionId AS id, toString(Receiver) AS receiver, TicketKey AS key, TicketUrl AS url
FROM exception_tickets FINAL WHERE ExceptionId IN {ids:Array(String)}
ORDER BY CreatedAt, Receiver
LIMIT 100 BY ExceptionId
"""
INSERT_EXCEPTION_ACTION = """
INSERT INTO exception_actions (ExceptionId, Action, Actor, Note, At, EntityType, EntityId, Step)
SELECT {id:String}, {action:String}, {actor:String}, {note:String}, fromUnixTimestamp64Milli({at_ms:Int64}),
    {entity_type:String}, {entity_id:String}, {step:String}
"""

# Open (not resolved) exceptions per bucket and category, and age buckets of those open now.
# Unresolved exceptions per bucket and category: +1 in the bucket an exception opens, -1 in
# the bucket it closes, then a running sum over a dense array of buckets per category.
# One pass over the exceptions (CTEs are inlined, so x is referenced once), and the cost
# grows with exceptions plus buckets, not their product. "Open in bucket b" means first
# seen before b's end and not closed before b's end.
EXCEPTION_BACKLOG = (
    exceptions_cte(f"StartTime >= {_SINCE} - INTERVAL 7 DAY AND StartTime < {_UNTIL}", f"{_SINCE} - INTERVAL 7 DAY")
    + """
SELECT category, lt_1h, h1_4, h4_24, gt_24h,
    arrayCumSum(arrayMap(j -> if(indexOf(m.1, j) = 0, 0, m.2[indexOf(m.1, j)]),
                         range(toInt64({buckets:UInt32})))) AS opens
FROM (
    SELECT category, sumMap([e.1], [e.2]) AS m,
        -- ages of the exceptions still unresolved now (each counted once: its +1 event)
        countIf(e.2 = 1 AND closed_ms = 0 AND {now_ms:Int64} - first_ms < 3600000) AS lt_1h,
        countIf(e.2 = 1 AND closed_ms = 0 AND {now_ms:Int64} - first_ms BETWEEN 3600000 AND 14399999) AS h1_4,
        countIf(e.2 = 1 AND closed_ms = 0 AND {now_ms:Int64} - first_ms BETWEEN 14400000 AND 86399999) AS h4_24,
        countIf(e.2 = 1 AND closed_ms = 0 AND {now_ms:Int64} - first_ms >= 86400000) AS gt_24h
    FROM x
    ARRAY JOIN [(greatest(0, intDiv(first_ms - {since_ms:Int64}, {bucket_ms:Int64})), 1),
                (greatest(0, intDiv(closed_ms - {since_ms:Int64}, {bucket_ms:Int64})), if(closed_ms = 0, 0, -1))] AS e
    WHERE first_ms < {until_ms:Int64} AND (closed_ms = 0 OR closed_ms >= {since_ms:Int64} + {bucket_ms:Int64})
        AND ({system:String} = '' OR system = {system:String})
    GROUP BY category
)
ORDER BY category
"""
)
