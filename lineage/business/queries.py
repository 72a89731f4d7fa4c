"""SQL of the flow-level business questions: KPIs, waiting queues and reconciliations.

Same rules as lineage/sql/queries.py: values only through binding, every read of hops bound to
the caller's scope, every answer bounded. All of them read ``hop_times`` (ordered by step and
end time), so a query touches only its steps' rows in its window. A span delivered twice
counts once: either ``FINAL`` collapses it, or (the reconciliation and waiting sides, where
FINAL's merge-sort would dominate) every aggregate is one that a duplicated row cannot change
(min, argMin/argMax, any, uniqExact). Per-entity aggregates make a retried success count once.
"""

from __future__ import annotations

from lineage.core.scope import in_scope
from lineage.sql import rollups
from lineage.sql.queries import postings_cte

_IN_SCOPE = in_scope()
_SINCE = "fromUnixTimestamp64Milli({since_ms:Int64})"
_UNTIL = "fromUnixTimestamp64Milli({until_ms:Int64})"
# The flow a hop belongs to ('' binds "any flow"): hops without biz.flow are the default flow's.
_FLOW = "({flow:String} = '' OR if(Flow = '', {default_flow:String}, toString(Flow)) = {flow:String})"
# The system filter of a view ('' binds "any system").
_SYSTEM = "({system:String} = '' OR toString(System) = {system:String})"
_GROUP = """multiIf({group_by:String} = 'system', toString(System), {group_by:String} = 'region', toString(Region),
            {group_by:String} = 'legal_entity', toString(LegalEntity), '')"""
# Buckets start at {origin_ms} (0: aligned on the epoch, as the metrics routes; the alerts
# bind their window's start so the whole window is one bucket).
_BUCKET = (
    "intDiv(toUnixTimestamp64Milli(EndTime) - {origin_ms:Int64}, {bucket_ms:Int64}) * {bucket_ms:Int64}"
    " + {origin_ms:Int64}"
)
# A failed attempt: not ok, and not a compensation (a reversal is not a failure).
FAILED = "Outcome NOT IN ('ok', 'compensated')"

# -- KPIs ---------------------------------------------------------------------------------
# latency, match parent: lineage's posting-latency CTE (the one definition), with the issuing
# hop limited to the KPI's flow.
_LAT_PARENT = postings_cte(issuing_flow=_FLOW)

# latency, match correlation: from the first ok "from" hop to the first ok "to" hop of the
# same correlation ID (to-hops ending in the window, from-hops up to 7 days earlier).
_LAT_CORRELATION = f"""
WITH ends AS (
    SELECT CorrelationId AS cid, min(EndTime) AS end_at, toString(argMin(System, EndTime)) AS system,
        toString(argMin(Region, EndTime)) AS region, toString(argMin(LegalEntity, EndTime)) AS legal_entity
    FROM hop_times -- (no FINAL: min and argMin as in the posting-latency CTE)
    WHERE Step = {{to_step:String}} AND Outcome = 'ok' AND EndTime >= {_SINCE} AND EndTime < {_UNTIL}
        AND CorrelationId != '' AND {_IN_SCOPE}
    GROUP BY CorrelationId
),
starts AS (
    SELECT CorrelationId AS cid, min(EndTime) AS start_at
    FROM hop_times
    WHERE Step = {{from_step:String}} AND Outcome = 'ok' AND {_FLOW}
        AND EndTime >= {_SINCE} - INTERVAL 7 DAY AND EndTime < {_UNTIL} AND {_IN_SCOPE}
        AND CorrelationId IN (SELECT cid FROM ends)
    GROUP BY CorrelationId
),
lat AS (
    SELECT e.cid AS cid, e.system AS system, e.region AS region, e.legal_entity AS legal_entity,
        toUnixTimestamp64Milli(e.end_at) AS end_ms,
        toUnixTimestamp64Milli(e.end_at) - toUnixTimestamp64Milli(s.start_at) AS lat_ms
    FROM ends AS e INNER JOIN starts AS s ON s.cid = e.cid
    WHERE lat_ms >= 0
)
"""

# (a latency is the to-hop's: its system filters it, as it groups it)
_LAT_SELECT = """
SELECT intDiv(end_ms - {origin_ms:Int64}, {bucket_ms:Int64}) * {bucket_ms:Int64} + {origin_ms:Int64} AS bucket_ms,
    multiIf({group_by:String} = 'system', system, {group_by:String} = 'region', region,
            {group_by:String} = 'legal_entity', legal_entity, '') AS grp,
    count() AS n, quantilesExact(0.5, 0.95, 0.99, {quantile:Float64})(lat_ms) AS q,
    countIf(lat_ms > {target_ms:Int64}) AS bad
FROM lat
WHERE {system:String} = '' OR system = {system:String}
GROUP BY bucket_ms, grp
ORDER BY bucket_ms, grp
LIMIT {limit:UInt32}
"""
KPI_LATENCY = {"parent": _LAT_PARENT + _LAT_SELECT, "correlation": _LAT_CORRELATION + _LAT_SELECT}

# throughput: distinct entities completing the step ok (a retried or duplicated success once).
KPI_THROUGHPUT = f"""
SELECT {_BUCKET} AS bucket_ms,
    {_GROUP} AS grp, uniqExact(EntityType, EntityId) AS n
FROM hop_times
WHERE Step = {{step:String}} AND Outcome = 'ok' AND Compensates = '' AND EndTime >= {_SINCE} AND EndTime < {_UNTIL}
    AND {_FLOW} AND {_SYSTEM} AND {_IN_SCOPE}
GROUP BY bucket_ms, grp
ORDER BY bucket_ms, grp
LIMIT {{limit:UInt32}}
"""

# failure rate: failed attempts of the step over all its attempts (a duplicated span once). The
# minutes the per-minute rollup covers come from it (a span is one row of a minute there), the
# others (the open minute, a window's ragged edges, minutes marked since the last seal) from
# hop_times: a span lives in one minute, so the two parts add up to the raw answer.
_ROLLUP_BUCKET = _BUCKET.replace("toUnixTimestamp64Milli(EndTime)", "toUnixTimestamp64Milli(toDateTime64(Minute, 3))")
KPI_FAILURE_RATE = f"""
SELECT bucket_ms, grp, sum(n) AS n, sum(bad) AS bad FROM (
    SELECT {_BUCKET} AS bucket_ms,
        {_GROUP} AS grp, uniqExact(TraceId, SpanId) AS n, uniqExactIf(TraceId, SpanId, {FAILED}) AS bad
    FROM hop_times
    WHERE Step = {{step:String}} AND Compensates = '' AND EndTime >= {_SINCE} AND EndTime < {_UNTIL}
        AND {_FLOW} AND {_SYSTEM} AND {_IN_SCOPE} AND {rollups.unserved_range()}
        AND NOT {rollups.served("toStartOfMinute(EndTime)")}
    GROUP BY bucket_ms, grp
    UNION ALL
    SELECT {_ROLLUP_BUCKET} AS bucket_ms, {_GROUP} AS grp, sum(Hops) AS n, sumIf(Hops, {FAILED}) AS bad
    FROM hop_rollup FINAL
    WHERE Step = {{step:String}} AND Compensation = 0 AND Minute >= toStartOfMinute({_SINCE}) AND Minute < {_UNTIL}
        AND {_FLOW} AND {_SYSTEM} AND {_IN_SCOPE} AND {rollups.served("Minute")}
    GROUP BY bucket_ms, grp
)
GROUP BY bucket_ms, grp
ORDER BY bucket_ms, grp
LIMIT {{limit:UInt32}}
"""

# -- business dates ----------------------------------------------------------------------
# A hop's business period (YYYY-MM): ``biz.period`` when well formed, else the month of
# ``biz.posting_date`` when it is a real date (YYYY-MM-DD), else the month the hop ended in, in
# the legal entity's time zone ``{tz}``. The close gate names the values this rule cannot read.
PERIOD_OK = "match(BizPeriod, '^[0-9][0-9][0-9][0-9]-(0[1-9]|1[0-2])$')"
DATE_OK = "ifNull(toString(toDateOrNull(PostingDate)) = PostingDate, 0)"
DECLARED_PERIOD = f"multiIf({PERIOD_OK}, BizPeriod, {DATE_OK}, substring(PostingDate, 1, 7), '')"
BUSINESS_PERIOD = f"if({DECLARED_PERIOD} != '', {DECLARED_PERIOD}, formatDateTime(EndTime, '%Y-%m', {{tz:String}}))"

# -- waiting queues -----------------------------------------------------------------------
# Entities that completed the previous stage (ok, in the window) and whose stage is not
# reached: no ok hop of the stage's entity type and step that is the same entity or names it
# as a parent. Entities reversed by a compensation are not waiting. With a {period} (the close
# gate), only entities whose business period it is wait, and a stage hop declaring that period
# (or an earlier one) reached it in time even when it arrived after ``as_of``.
# __SLE__: '' (one queue for the scope) or the hop's legal entity (the close gate's queue of each
# entity apart, as a caller scoped to it alone sees it: no hop of another entity reaches or
# reverses one of its entities). Every waiting entity is of the previous stage's entity type, so
# ``reached`` keeps only the IDs of that type (the hop's own, its parents') and is a list, not a
# set: the NOT IN builds the set once (a DISTINCT over the tuples of every stage hop and parent
# cost as much again).
_COMPENSATED = f"""
SELECT __SLE__ AS cle, splitByChar(':', Compensates, 2)[1] AS ct, splitByChar(':', Compensates, 2)[2] AS cid_
FROM hop_times
WHERE Compensates != '' AND EndTime >= {_SINCE} AND {_IN_SCOPE}
"""
_WAITING_CTE = f"""
WITH prev AS (
    SELECT toString(EntityType) AS et, EntityId AS eid, min(EndTime) AS done_at,
        argMin(CorrelationId, EndTime) AS cid, toString(argMin(System, EndTime)) AS system,
        argMaxIf(Amount, EndTime, Amount IS NOT NULL) AS amount,
        toString(argMaxIf(Currency, EndTime, Currency != '')) AS currency,
        toString(any(LegalEntity)) AS legal_entity, __SLE__ AS sle
    FROM hop_times
    WHERE Step = {{prev_step:String}} AND EntityType = {{prev_type:String}} AND Outcome = 'ok' AND Compensates = ''
        AND EndTime >= {_SINCE} AND EndTime < {_UNTIL} AND {_FLOW} AND {_IN_SCOPE}
    GROUP BY EntityType, EntityId, sle
    __HAVING__
),
reached AS (
    SELECT __SLE__ AS rle, arrayJoin(arrayConcat(if(toString(EntityType) = {{prev_type:String}}, [EntityId], []),
        if(toString(ParentType) = {{prev_type:String}}, ParentIds, []))) AS rid__REACHED_AT__
    FROM hop_times
    WHERE Step = {{step:String}} AND EntityType = {{type:String}} AND Outcome = 'ok' AND Compensates = ''
        AND EndTime >= {_SINCE} AND {_IN_SCOPE} AND __IN_TIME__
),
waiting AS (
    SELECT *__NOW__ FROM prev
    WHERE (sle, eid) NOT IN (SELECT rle, rid FROM reached__REACHED_WHERE__)
        AND (sle, et, eid) NOT IN ({_COMPENSATED})
)
"""
# One pass per stage: the totals, and the oldest {limit} entities (kept sorted as they are read).
_WAITING_SELECT = """
SELECT count() AS n, min(toUnixTimestamp64Milli(done_at)) AS oldest_ms,
    sumMapIf([currency], [amount], amount IS NOT NULL) AS amounts,
    groupArraySorted({limit:UInt32})((toUnixTimestamp64Milli(done_at), eid, et, amount, currency, system,
        legal_entity, cid)) AS items
FROM waiting
"""
_IN_TIME = "EndTime < fromUnixTimestamp64Milli({as_of_ms:Int64})"


def _waiting(having: str, in_time: str, sle: str, *, now_too: bool = False) -> str:
    """The waiting CTEs with ``reached`` limited to the stage hops ``in_time``; ``now_too``: the
    rows are those not reached in time, each flagged ``waits_now`` when not reached at all."""
    if not now_too:
        marks = {"__IN_TIME__": in_time, "__REACHED_AT__": "", "__NOW__": "", "__REACHED_WHERE__": ""}
    else:
        marks = {
            "__IN_TIME__": "1",
            "__REACHED_AT__": f", {in_time} AS in_time",
            "__NOW__": ", (sle, eid) NOT IN (SELECT rle, rid FROM reached) AS waits_now",
            "__REACHED_WHERE__": " WHERE in_time",
        }
    sql = _WAITING_CTE.replace("__HAVING__", having).replace("__SLE__", sle)
    for mark, text in marks.items():
        sql = sql.replace(mark, text)
    return sql


WAITING = _waiting("", _IN_TIME, "''") + _WAITING_SELECT
# The close gate's: the entities of one business {period} (cut in {tz}), per legal entity (one
# row each; none: nothing waits).
_BY_PERIOD = f"HAVING argMin({BUSINESS_PERIOD}, EndTime) = {{period:String}}"
_PERIOD_IN_TIME = f"({_IN_TIME} OR ({DECLARED_PERIOD} != '' AND {DECLARED_PERIOD} <= {{period:String}}))"
_PER_ENTITY = _WAITING_SELECT.replace("SELECT ", "SELECT legal_entity AS le, ", 1) + "GROUP BY legal_entity\n"
WAITING_BY_PERIOD = _waiting(_BY_PERIOD, _PERIOD_IN_TIME, "toString(LegalEntity)") + _PER_ENTITY
# The same queue at the period's end ({as_of_ms}) and now, in one pass over the previous stage:
# what waits now waits at the end too (not reached at all is not reached in time), so the rows are
# those waiting at the end, each flagged ``waits_now`` when no stage hop reached it since; the
# ``now_`` columns are WAITING_BY_PERIOD with no end, the others WAITING_BY_PERIOD at the end.
_NOW_COLUMNS = """,
    countIf(waits_now) AS now_n, minIf(toUnixTimestamp64Milli(done_at), waits_now) AS now_oldest_ms,
    sumMapIf([currency], [amount], amount IS NOT NULL AND waits_now) AS now_amounts,
    groupArraySortedIf({limit:UInt32})((toUnixTimestamp64Milli(done_at), eid, et, amount, currency, system,
        legal_entity, cid), waits_now) AS now_items
FROM waiting"""
WAITING_BY_PERIOD_AT_END_AND_NOW = _waiting(
    _BY_PERIOD, _PERIOD_IN_TIME, "toString(LegalEntity)", now_too=True
) + _PER_ENTITY.replace("\nFROM waiting", _NOW_COLUMNS)

# -- reconciliations ----------------------------------------------------------------------
# Each side: one row per entity (ok hops of its step and entity type, optionally of one
# system) with its amount net of compensations (a compensation without an amount reverses the
# whole entity). A right hop naming several parents (a batch journal posting many invoices)
# matches each of them on presence: its total cannot be split, so each invoice's share is
# taken as the invoice's own amount. Both sides are read from 7 days before to 7 days after the window, matched by
# key, and a pair belongs to the window when its left side (else its right side) ended in it.
_LOOK = "EndTime >= {since_ms_wide} AND EndTime < {until_ms_wide}".format(
    since_ms_wide=f"{_SINCE} - INTERVAL 7 DAY", until_ms_wide=f"{_UNTIL} + INTERVAL 7 DAY"
)
# With {split_le} (the close gate's every-entity pass) each legal entity is matched apart, as
# a caller scoped to it alone would see it: a side, a compensation and a pair never span two.
_SPLIT = "if({split_le:UInt8}, toString(LegalEntity), '')"
# Compensations are summed, so a span stored twice must count once: FINAL, but only over the
# sorting keys of hops that carry a compensation (the IN reads the key ranges of those alone;
# every copy of a span shares its key, so the last copy is the one FINAL keeps, as over the
# whole window, and the WHERE then drops it if that copy compensates nothing).
_COMP_AMOUNTS = f"""
SELECT Compensates AS target, {_SPLIT} AS sle, sum(abs(ifNull(Amount, 0))) AS comp_amount,
    countIf(Amount IS NULL) AS full_reversals
FROM hop_times FINAL
WHERE (Step, EndTime, TraceId, SpanId) IN (SELECT Step, EndTime, TraceId, SpanId FROM hop_times
        WHERE Compensates != '' AND {_LOOK})
    AND Compensates != '' AND {_LOOK} AND {_IN_SCOPE}
GROUP BY Compensates, sle
"""


def _side(side: str, key: str) -> str:
    fanin = int(key == "pid")
    return f"""
    SELECT {key} AS k, min(EndTime) AS t, argMin(CorrelationId, EndTime) AS cid,
        concat(toString(EntityType), ':', EntityId) AS ent,
        argMaxIf(Amount, EndTime, Amount IS NOT NULL) AS gross,
        toString(argMaxIf(Currency, EndTime, Currency != '')) AS currency,
        toString(any(LegalEntity)) AS legal_entity, max(length(ParentIds) > 1 AND {fanin}) AS fanin, {_SPLIT} AS sle
    FROM hop_times {"ARRAY JOIN ParentIds AS pid" if key == "pid" else ""}
    WHERE Step = {{{side}_step:String}} AND EntityType = {{{side}_type:String}} AND Outcome = 'ok'
        AND Compensates = '' AND ({{{side}_system:String}} = '' OR System = {{{side}_system:String}})
        AND {_LOOK} AND {_IN_SCOPE}
        {"AND ParentType = {left_type:String}" if key == "pid" else ""}
    GROUP BY k, EntityType, EntityId, sle
"""


def _net(alias: str) -> str:
    return f"""
    SELECT {alias}.*, if(c.full_reversals > 0, 0, ifNull({alias}.gross, 0) - c.comp_amount) AS net,
        c.target != '' AS reversed
    FROM {alias}_raw AS {alias} LEFT JOIN comp AS c ON c.target = {alias}.ent AND c.sle = {alias}.sle
"""


def _reconcile_cte(match: str) -> str:
    right_key = "pid" if match == "parent" else "EntityId"
    return f"""
WITH comp AS ({_COMP_AMOUNTS}),
l_raw AS ({_side("left", "EntityId")}),
r_raw AS ({_side("right", right_key)}),
l AS ({_net("l")}),
r_ents AS ({_net("r")}),
r AS (
    SELECT k, min(t) AS rt, any(cid) AS rcid, groupArray(ent) AS ents, sum(net) AS rnet,
        any(currency) AS rcur, uniqExact(currency) AS currencies, any(legal_entity) AS rle,
        max(reversed) AS rrev, max(fanin) AS rfan, sle
    FROM r_ents GROUP BY k, sle
),
pairs AS (
    SELECT if(l.k != '', l.k, r.k) AS key, l.k != '' AS has_left, r.k != '' AS has_right,
        toUnixTimestamp64Milli(if(l.k != '', l.t, r.rt)) AS at_ms,
        if(l.k != '', l.legal_entity, r.rle) AS legal_entity,
        if(l.k != '', l.currency, r.rcur) AS currency,
        l.net AS left_amount, if(r.rfan AND l.k != '', l.net, r.rnet) AS right_amount,
        l.currency AS left_currency, r.rcur AS right_currency,
        l.cid AS left_cid, r.rcid AS right_cid, l.ent AS left_entity, r.ents AS right_entities,
        l.reversed OR r.rrev AS compensated,
        multiIf(
            has_left AND has_right AND (left_currency != right_currency OR r.currencies > 1), 'currency_mismatch',
            has_left AND has_right AND abs(left_amount - right_amount) > {{tolerance:Float64}}, 'amount_mismatch',
            has_left AND has_right, 'matched',
            has_left AND compensated AND abs(left_amount) <= {{tolerance:Float64}}, 'compensated',
            has_left, 'left_only',
            compensated AND abs(right_amount) <= {{tolerance:Float64}}, 'compensated',
            'right_only') AS status
    FROM l FULL OUTER JOIN r ON l.k = r.k AND l.sle = r.sle
    WHERE at_ms >= {{since_ms:Int64}} AND at_ms < {{until_ms:Int64}}
)
"""


RECONCILE_SUMMARY = {
    m: _reconcile_cte(m)
    + """
SELECT intDiv(at_ms, {bucket_ms:Int64}) * {bucket_ms:Int64} AS bucket_ms,
    if({by_legal_entity:UInt8}, legal_entity, '') AS grp, currency,
    countIf(has_left) AS s_left_count, sumIf(left_amount, has_left) AS s_left_amount,
    countIf(has_right) AS s_right_count, sumIf(right_amount, has_right) AS s_right_amount,
    countIf(status = 'matched') AS s_matched, countIf(compensated) AS s_compensated,
    countIf(status = 'left_only') AS s_left_only, sumIf(left_amount, status = 'left_only') AS s_left_only_amount,
    countIf(status = 'right_only') AS s_right_only, sumIf(right_amount, status = 'right_only') AS s_right_only_amount,
    countIf(status = 'amount_mismatch') AS s_amount_mismatch,
    sumIf(right_amount - left_amount, status = 'amount_mismatch') AS s_amount_difference,
    countIf(status = 'currency_mismatch') AS s_currency_mismatch
FROM pairs
GROUP BY bucket_ms, grp, currency
ORDER BY bucket_ms, grp, currency
LIMIT {limit:UInt32}
"""
    for m in ("parent", "key")
}

RECONCILE_BREAKS = {
    m: _reconcile_cte(m)
    + """
SELECT key, status, at_ms, legal_entity, left_amount, right_amount, left_currency, right_currency,
    left_cid, right_cid, left_entity, right_entities, compensated
FROM pairs
WHERE status NOT IN ('matched', 'compensated') AND ({kind:String} = '' OR status = {kind:String})
ORDER BY at_ms, key
LIMIT {limit:UInt32} BY if({split_le:UInt8}, legal_entity, '')
"""
    for m in ("parent", "key")
}
