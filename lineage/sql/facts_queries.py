"""SQL of a transaction's stage facts (status, SLA, stuck): for some correlation IDs (lookups)
and for the transactions that started in a time window (listings, SLA breaches, the SLA and
stuck alert rules, through lineage/core/domain.py). Values always go through binding."""

from __future__ import annotations

from lineage.core.scope import in_scope

_SINCE = "fromUnixTimestamp64Milli({since_ms:Int64})"
_UNTIL = "fromUnixTimestamp64Milli({until_ms:Int64})"
_IN_SCOPE = in_scope()

_HOP_COLS = "Flow, EntityType, EntityId, Step, Outcome, ErrorCategory, StartTime, EndTime, System, Region"
_FACTS_GROUPS = """
, groups AS (
    SELECT Cid, EntityType, EntityId, Step, minIf(Flow, Flow != '') AS flow, max(Adopted) AS adopted,
        toUnixTimestamp64Milli(min(StartTime)) AS first_ms,
        toUnixTimestamp64Milli(max(EndTime)) AS last_ms,
        toUnixTimestamp64Milli(minIf(EndTime, Outcome = 'ok')) AS ok_ms,
        countIf(Outcome = 'ok') AS oks, countIf(Outcome NOT IN ('ok', 'compensated')) AS fails,
        maxIf(StartTime, Outcome = 'ok') > maxIf(StartTime, Outcome != 'ok') AS auto_resolved,
        argMax(Outcome, StartTime) AS last_outcome,
        argMaxIf(ErrorCategory, StartTime, ErrorCategory != '') AS category,
__FILTER_COLS__        argMax(System, EndTime) AS last_group_system, max(EndTime) AS last_group_end
    FROM src GROUP BY Cid, EntityType, EntityId, Step
)
"""
# One row per transaction, of a size bounded by its flow, not by its hops: the earliest
# completion per (entity type, step) and the distinct (outcome, category) of its unresolved
# failures (a transaction of 100,000 line items has four stages and a few kinds of failure).
# Its flow is the first (by name) that its own hops name: the hops of one correlation ID
# should name one flow, and this keeps the choice the same in every query (facts_queries.PAGE).
_FACTS_SELECT = """
SELECT Cid AS correlation_id,
    toString(argMaxIf(last_group_system, last_group_end, adopted = 0)) AS last_system,
    if(minIf(flow, flow != '' AND adopted = 0) = '', {default_flow:String},
       minIf(flow, flow != '' AND adopted = 0)) AS flow_name,
    minIf(first_ms, adopted = 0) AS started_ms, max(last_ms) AS last_ms,
    minMapIf([(toString(EntityType), toString(Step))], [ok_ms], oks > 0) AS first_oks,
    arrayMap((k, ms) -> (k.1, k.2, ms), first_oks.1, first_oks.2) AS done,
    groupUniqArrayIf((toString(last_outcome), toString(category)),
                     fails > 0 AND NOT auto_resolved AND adopted = 0) AS unresolved
FROM groups
GROUP BY Cid
HAVING countIf(adopted = 0) > 0
"""
_FACTS_AGG = _FACTS_GROUPS.replace("__FILTER_COLS__", "") + _FACTS_SELECT

# The columns _KEEP reads: the flow's index in the bound arrays (unknown flows are the default
# flow's, as in FlowConfig.flow) and the earliest completion of each of the flow's stages
# (0: not done; index 0 of a ClickHouse array is the type's default).
_FACTS_KEEP_COLS = """,
    minMapIf([concat(toString(EntityType), '|', toString(Step))], [ok_ms], oks > 0) AS done_map,
    if(indexOf({flow_names:Array(String)}, flow_name) = 0, indexOf({flow_names:Array(String)}, {default_flow:String}),
       indexOf({flow_names:Array(String)}, flow_name)) AS fi,
    arrayMap(k -> (done_map.2)[indexOf(done_map.1, k)], {stage_keys:Array(Array(String))}[fi]) AS dones
"""

# Own hops only; lookups add adopted completions from ADOPTED.
FACTS_FOR_IDS = f"""
WITH src AS (
    SELECT CorrelationId AS Cid, {_HOP_COLS}, toUInt8(0) AS Adopted
    FROM hops FINAL WHERE CorrelationId IN {{ids:Array(String)}} AND {_IN_SCOPE}
)
{_FACTS_AGG}
"""

# Listing: transactions whose first hop started in [since, until); hops are read up to
# {scan_until_ms} so later stages of those transactions are seen. An adopted completion
# counts when both the adopting hop and the owner's hop of the parent entity are in scope
# (as in lookups, whose owners' keys come from in-scope hops only).
# The hops come from hop_times, ordered by step and end time, so only the window's granules
# are read (a hop that started in the window ended in it or later: the EndTime bound is what
# the primary key uses); hops itself is ordered by correlation ID, where a time filter skips
# nothing.
_TIME_WINDOW = (
    f"EndTime >= {_SINCE} AND StartTime >= {_SINCE} AND StartTime < fromUnixTimestamp64Milli({{scan_until_ms:Int64}})"
)
# Which transactions come back ({keep}): 0 all; 1 those not complete (failed, in flight and
# stuck are never complete); 2 those with a breached SLA; 3 those not complete with an open
# stage or the end-to-end SLA overdue (stuck candidates: lineage/core/derive.py still tells stuck
# from failed). The flows file's stages come as parallel arrays, one entry per flow
# (lineage/core/domain.py). derive.py is the definition of a breach; this is the same rule over
# arrays so that SQL drops the transactions it would pass, and tests/lineage/core/test_keep.py
# checks on generated transactions that both agree. Per stage: ``dones`` its earliest
# completion (0: not done), ``prevs`` the completion of the previous done stage (or the
# transaction's start) from which its SLA runs; the open stage is the first after the last
# done one.
_KEEP_COLS = """
    {stage_slas:Array(Array(Int64))}[fi] AS slas,
    arrayPopBack(arrayFill(x -> x > 0, arrayPushFront(dones, started_ms))) AS prevs,
    arrayLastIndex(x -> x > 0, dones) + 1 AS open_at,
    dones[{last_required:Array(UInt32)}[fi]] > 0 AS complete,
    open_at <= length(dones) AND slas[open_at] >= 0 AND prevs[open_at] + slas[open_at] < {now_ms:Int64} AS open_late,
    {e2e_sla:Array(Int64)}[fi] >= 0
        AND if(complete, dones[{last_required:Array(UInt32)}[fi]], {now_ms:Int64}) - started_ms
            > {e2e_sla:Array(Int64)}[fi] AS e2e_late,
    arrayExists((d, p, s) -> d > 0 AND s >= 0 AND d > p + s, dones, prevs, slas) AS done_late
"""
_KEEP = """
AND multiIf({keep:UInt8} = 1, NOT complete, {keep:UInt8} = 2, done_late OR open_late OR e2e_late,
              {keep:UInt8} = 3, NOT complete AND (open_late OR e2e_late), true)
"""
# The System and Region filters: whether an entity/step has a hop of that system (region).
_ON_SYSTEM_REGION = """
        countIf(System = {system:String}) > 0 AS on_system,
        countIf(Region = {region:String}) > 0 AS in_region,
"""
# Candidates when only transactions that are not complete matter (keep 1 and 3: stuck, failed,
# in flight): correlation IDs with an in-scope hop started in the window, less those with an
# in-scope successful hop of their flow's last required stage in the window (found through
# hop_times' step prefix). A transaction completed only by another correlation ID's hop (a
# batch journal) stays a candidate; the full query decides. Only the candidates' hops are
# aggregated, and only orphans whose parent is a candidate's entity are looked up. The
# candidates are a scalar subquery (computed once per query, where a CTE would be computed
# again at each of its uses; bound as a parameter they would be parsed as a literal).
# A successful hop of its flow's last required stage (the hop's own flow).
_TERMINAL_OK = """Step IN {terminal_steps:Array(String)} AND Outcome = 'ok'
            AND concat(toString(EntityType), '|', toString(Step)) = transform(
                if(has({flow_names:Array(String)}, toString(Flow)), toString(Flow), {default_flow:String}),
                {flow_names:Array(String)}, {terminal_keys:Array(String)}, '')"""
CANDIDATES = f"""
SELECT DISTINCT CorrelationId FROM hop_times
WHERE {_TIME_WINDOW} AND StartTime < {_UNTIL} AND {_IN_SCOPE}
    AND CorrelationId NOT IN (
        SELECT CorrelationId FROM hop_times WHERE {_TERMINAL_OK} AND {_TIME_WINDOW} AND {_IN_SCOPE})
"""

# A listing's page (lineage/core/domain.py ``listing``): correlation IDs whose first in-scope hop of
# the window started in [since, until), newest first from the cursor ({after_ms}, {after_cid})
# on, with their hops, how many there are, their hops and the window's; with an in-scope hop of the
# window of {system} and of {region} when given, named {flow} when given; with {open_only} only
# the CANDIDATES, and with {stuck_only} only those that can be overdue: started longer ago than
# their flow's shortest end-to-end SLA, or in a window longer than its shortest stage SLA (a
# stage's SLA runs from the transaction's start or a completion, all in the window). One pass
# over the window's hops, a few narrow columns and no grouping by entity: only the page's
# transactions are aggregated (FACTS_FOR_PAGE, which applies these filters again as
# FACTS_IN_WINDOW does).
_FLOW_NAME = "if(minIf(Flow, Flow != '') = '', {default_flow:String}, minIf(Flow, Flow != ''))"


def _shortest(sla: str) -> str:
    """The shortest end-to-end ("e2e") or stage ("stage") SLA, ms, of the flows a transaction's
    hops name and the default flow (its flow is one of them; a flow without: a huge number)."""
    shortest = f"{{shortest_{sla}_ms:Array(Int64)}}"
    default = f"{shortest}[indexOf({{flow_names:Array(String)}}, {{default_flow:String}})]"
    flows = "arrayPushBack(groupUniqArray(toString(Flow)), {default_flow:String})"
    return f"arrayMin(arrayMap(f -> transform(f, {{flow_names:Array(String)}}, {shortest}, {default}), {flows}))"


PAGE = f"""
SELECT correlation_id, started_ms, hops, matched, window_hops, listed_hops FROM (
    SELECT correlation_id, started_ms, hops, listed, countIf(listed) OVER () AS matched,
        sum(hops) OVER () AS window_hops, sumIf(hops, listed) OVER () AS listed_hops
    FROM (
        SELECT CorrelationId AS correlation_id, toUnixTimestamp64Milli(min(StartTime)) AS started_ms,
            count() AS hops,
            started_ms >= {{since_ms:Int64}} AND started_ms < {{until_ms:Int64}}
            AND ({{flow:String}} = '' OR {_FLOW_NAME} = {{flow:String}})
            AND ({{system:String}} = '' OR countIf(System = {{system:String}}) > 0)
            AND ({{region:String}} = '' OR countIf(Region = {{region:String}}) > 0)
            AND ({{open_only:UInt8}} = 0 OR countIf({_TERMINAL_OK}) = 0)
            AND ({{stuck_only:UInt8}} = 0 OR {{now_ms:Int64}} - started_ms > {_shortest("e2e")}
                 OR {{now_ms:Int64}} - {{since_ms:Int64}} > {_shortest("stage")}) AS listed
        FROM hop_times
        WHERE {_TIME_WINDOW} AND {_IN_SCOPE}
        GROUP BY CorrelationId
    )
)
WHERE listed
    AND (started_ms < {{after_ms:Int64}} OR (started_ms = {{after_ms:Int64}} AND correlation_id > {{after_cid:String}}))
ORDER BY started_ms DESC, correlation_id
LIMIT {{limit:UInt32}}
"""

# The facts of the given correlation IDs as FACTS_IN_WINDOW finds them, or with {open_only} as
# FACTS_IN_WINDOW_OPEN (which takes an owner's entities from its hops of the window only), read
# through primary keys so that a page costs its own transactions' hops, whatever else the window
# holds. An owner's entities are those of its hops in scope (_SRC_ALL: hop_keys' entity rows).
# The orphans: successful child hops of the window naming one of those entities, from the page's
# own correlation IDs (hops) or from others (entity_edges, keyed on the parent), less those
# whose own correlation ID has a hop of the parent entity in the window; each completes the
# stage of every other correlation ID owning the parent. The entities and the other children are
# scalar subqueries, computed once per query: as CTEs each of their four uses ran them again
# (sets for the primary keys are built while planning), about 90 ms of a page whatever its size.
_PAGE_ENTITIES = f"""
    SELECT DISTINCT CorrelationId AS Owner, toString(EntityType) AS Et, EntityId AS Eid FROM hops
    WHERE CorrelationId IN {{ids:Array(String)}} AND {_IN_SCOPE} AND ({{open_only:UInt8}} = 0 OR {_TIME_WINDOW})"""
_SRC_PAGE = f"""
WITH (SELECT groupArray((Owner, Et, Eid)) FROM ({_PAGE_ENTITIES}
)) AS page_ents,
(SELECT groupArray((CorrelationId, TraceId, SpanId)) FROM (
    SELECT CorrelationId, TraceId, SpanId FROM entity_edges
    WHERE Direction = 'child' AND (KeyType, KeyId) IN (SELECT e.2, e.3 FROM (SELECT arrayJoin(page_ents) AS e))
        AND CorrelationId NOT IN {{ids:Array(String)}}
)) AS other_children,
ents AS (SELECT e.1 AS Owner, e.2 AS Et, e.3 AS Eid FROM (SELECT arrayJoin(page_ents) AS e)),
orphans AS (
    SELECT CorrelationId AS ChildCid, toString(ParentType) AS Pt, pid, EntityType, EntityId, Step,
        StartTime, EndTime, System, Region
    FROM hops ARRAY JOIN ParentIds AS pid
    WHERE (CorrelationId IN {{ids:Array(String)}}
            OR (CorrelationId, TraceId, SpanId) IN (SELECT arrayJoin(other_children)))
        AND {_TIME_WINDOW} AND Outcome = 'ok' AND pid != '' AND {_IN_SCOPE}
        AND (CorrelationId, toString(ParentType), pid) NOT IN (
            SELECT CorrelationId, toString(EntityType), EntityId FROM hops
            WHERE {_TIME_WINDOW} AND (CorrelationId IN {{ids:Array(String)}}
                OR CorrelationId IN (SELECT arrayJoin(other_children).1)))
),
src AS (
    SELECT CorrelationId AS Cid, {_HOP_COLS}, toUInt8(0) AS Adopted FROM hops
    WHERE CorrelationId IN {{ids:Array(String)}} AND {_TIME_WINDOW} AND {_IN_SCOPE}
    UNION ALL
    SELECT e.Owner, '', o.EntityType, o.EntityId, o.Step, 'ok', '', o.StartTime, o.EndTime, o.System, o.Region,
        toUInt8(1)
    FROM ents AS e
    INNER JOIN orphans AS o ON o.Pt = e.Et AND o.pid = e.Eid
    WHERE e.Owner != o.ChildCid
)"""

# Successful hops of the window that name a parent entity, one row per parent.
_CHILD_HOPS = f"""    SELECT CorrelationId AS ChildCid, toString(ParentType) AS Pt, pid, EntityType, EntityId, Step,
        StartTime, EndTime, System, Region
    FROM hop_times ARRAY JOIN ParentIds AS pid
    WHERE {_TIME_WINDOW} AND Outcome = 'ok' AND pid != '' AND {_IN_SCOPE}"""

# Every transaction of the window: its own hops, plus successful child hops elsewhere whose
# parent entity is one of its hops (adopted completions), found among the "orphans".
_SRC_ALL = f"""
WITH src AS (
    SELECT CorrelationId AS Cid, {_HOP_COLS}, toUInt8(0) AS Adopted
    -- No FINAL: a duplicated row changes none of the aggregates below (min, max, argMax,
    -- "any ok", "any failure", unique arrays), and FINAL would read every column of the
    -- window before a filter could skip rows.
    FROM hop_times
    WHERE {_TIME_WINDOW} AND {_IN_SCOPE}
    UNION ALL
    SELECT k.CorrelationId, '', o.EntityType, o.EntityId, o.Step, 'ok', '', o.StartTime, o.EndTime,
        o.System, o.Region, toUInt8(1)
    FROM orphans AS o
    INNER JOIN (
        SELECT DISTINCT KeyType, KeyId, CorrelationId FROM hop_keys
        WHERE KeyKind = 'entity' AND (KeyType, KeyId) IN (SELECT Pt, pid FROM orphans)
            AND {_IN_SCOPE}
    ) AS k ON k.KeyType = o.Pt AND k.KeyId = o.pid
    WHERE k.CorrelationId != o.ChildCid
),
-- Successful child hops whose parent entity is not a hop of their own correlation ID in the
-- window: the only candidates for completing another transaction's stage (batch journals),
-- so only these few are joined to hop_keys (which drops those whose parent is their own).
orphans AS (
{_CHILD_HOPS}
        AND (CorrelationId, toString(ParentType), pid) NOT IN (
            SELECT CorrelationId, toString(EntityType), EntityId FROM hop_times WHERE {_TIME_WINDOW})
)"""

# The candidates only: their own hops, and successful child hops of another correlation ID
# whose parent is one of the candidates' entities (the owners are the candidates, so their own
# rows replace the hop_keys lookup) and not an entity of the child's own correlation ID.
_SRC_OPEN = f"""
WITH (SELECT groupArray(CorrelationId) FROM ({CANDIDATES})) AS cands,
own AS (
    SELECT CorrelationId AS Cid, {_HOP_COLS}, toUInt8(0) AS Adopted FROM hop_times
    WHERE CorrelationId IN (SELECT arrayJoin(cands)) AND {_TIME_WINDOW} AND {_IN_SCOPE}
),
kids AS (
{_CHILD_HOPS}
),
src AS (
    SELECT * FROM own
    UNION ALL
    SELECT w.Cid, '', k.EntityType, k.EntityId, k.Step, 'ok', '', k.StartTime, k.EndTime, k.System, k.Region,
        toUInt8(1)
    FROM kids AS k
    INNER JOIN (SELECT DISTINCT Cid, toString(EntityType) AS et, EntityId AS eid FROM own) AS w
        ON w.et = k.Pt AND w.eid = k.pid
    WHERE w.Cid != k.ChildCid
        AND (k.ChildCid, k.Pt, k.pid) NOT IN (
            SELECT CorrelationId, toString(EntityType), EntityId FROM hop_times
            WHERE {_TIME_WINDOW}
                AND (toString(EntityType), EntityId) IN (SELECT toString(EntityType), EntityId FROM own))
)"""


# The names of the breached stages of a transaction (and {e2e_name} for the end-to-end SLA):
# per stage the same conditions as _KEEP mode 2, which derive.py's verdicts are checked against.
_BREACHED_STAGES = """,
    arrayConcat(
        arrayFilter((name, d, p, s, i) -> (d > 0 AND s >= 0 AND d > p + s) OR (i = open_at AND open_late),
                    {stage_names:Array(Array(String))}[fi], dones, prevs, slas, arrayEnumerate(dones)),
        if(e2e_late, [{e2e_name:String}], [])) AS breached_stages
"""


# The window and the flow, system and region filters, over one transaction's groups.
_FILTERS = """
    AND started_ms >= {since_ms:Int64} AND started_ms < {until_ms:Int64}
    AND ({flow:String} = '' OR flow_name = {flow:String})
    AND ({system:String} = '' OR max(adopted = 0 AND on_system))
    AND ({region:String} = '' OR max(adopted = 0 AND in_region))"""
_FILTERED_GROUPS = _FACTS_GROUPS.replace("__FILTER_COLS__", _ON_SYSTEM_REGION)


def _facts_in_window(open_only: bool, breached_stages: bool = False) -> str:
    """FACTS_IN_WINDOW, or with ``open_only`` the same over the CANDIDATES only; with
    ``breached_stages`` every transaction of the window with its breached stages' names.

    The SLA columns (_KEEP_COLS, _BREACHED_STAGES) are computed one level above the grouping:
    ClickHouse's analyzer expands an alias wherever it is used, so in one SELECT each use of
    ``prevs`` or ``open_late`` re-expanded ``dones`` and the aggregates under it, and planning
    took about 250 ms whatever the window's size; over the grouped rows they are columns."""
    keep_cols = _KEEP_COLS + (_BREACHED_STAGES if breached_stages else "")
    tail = "" if breached_stages else "ORDER BY started_ms DESC, correlation_id\nLIMIT {limit:UInt32}\n"
    return f"""{_SRC_OPEN if open_only else _SRC_ALL}
{_FILTERED_GROUPS}
SELECT *,{keep_cols}FROM (
{_FACTS_SELECT.replace("FROM groups", _FACTS_KEEP_COLS + "FROM groups")}{_FILTERS}
)
WHERE {_KEEP.strip().removeprefix("AND ")}
{tail}"""


FACTS_IN_WINDOW = _facts_in_window(open_only=False)
FACTS_IN_WINDOW_OPEN = _facts_in_window(open_only=True)
FACTS_FOR_PAGE = f"{_SRC_PAGE}\n{_FILTERED_GROUPS}\n{_FACTS_SELECT}{_FILTERS}\n"

# SLA breaches per stage of the transactions that started in the window (bind keep = 2): the
# count and the five earliest started, for the SLA alert rule, without judging every breached
# transaction in Python.
BREACHES_BY_STAGE = f"""
SELECT stage, count() AS n, arraySlice(arraySort(groupArray((started_ms, correlation_id))), 1, 5) AS examples
FROM ({_facts_in_window(open_only=False, breached_stages=True)})
ARRAY JOIN breached_stages AS stage
GROUP BY stage
ORDER BY stage
"""
