"""All SQL of the lineage service. Values always go through binding (``{name:Type}``).

Fragments are module constants combined at import time; no input ever reaches the text.
Times cross the boundary as epoch milliseconds (Int64) so no timezone is ever guessed.
Derived tables are ReplacingMergeTree: reads use FINAL or DISTINCT so a retried delivery
never counts twice.
"""

from __future__ import annotations

from lineage.core.scope import in_scope

# Epoch-ms bounds; the columns are DateTime64(9) in UTC.
_SINCE = "fromUnixTimestamp64Milli({since_ms:Int64})"
_UNTIL = "fromUnixTimestamp64Milli({until_ms:Int64})"

# -- scope ------------------------------------------------------------------------------------
# Every read of hops, and of the key tables (entity_edges, hop_keys, span_links: each row
# carries the legal entity and region of the hop that produced it), keeps only rows of the
# caller's scope (lineage/core/scope.py). An unrestricted caller binds two empty arrays, which
# ClickHouse folds to true: the same SQL, at no cost.
_IN_SCOPE = in_scope()
# A hop's group for ``group_by`` (system, region or legal entity; '' for none): one definition for
# every bucketed series here.
_HOP_GROUP = """multiIf({group_by:String} = 'system', toString(System), {group_by:String} = 'region', toString(Region),
    {group_by:String} = 'legal_entity', toString(LegalEntity), '')"""


# -- one transaction ----------------------------------------------------------------------
# Lookups take the entity and span keys as array parameters rather than as subqueries:
# ClickHouse's analyzer plans a flat query several times faster, and a lookup is a handful
# of primary-key seeks whose planning would otherwise dominate.
_KEYS = "Array(Tuple(String, String))"
# The stable exception id of an (entity type, entity id, step): the one definition, used by
# the lineage API, the alerts and replay (lineage/core/domain.py).
EXC_ID = "lower(leftPad(hex(cityHash64(toString(EntityType), EntityId, toString(Step))), 16, '0'))"


# The attempts (stored hop spans) of one correlation ID in scope, one flat row each, in the
# column order of lineage/core/fold.py ``Attempt``, which folds them into hops (retries into
# attempts): a flat read plans several times faster than the forty aggregates it replaces.
_ATTEMPT_COLS = """
SELECT toString(EntityType), EntityId, toString(Step), toString(System), toString(Outcome),
    toString(ErrorCategory), toUnixTimestamp64Nano(StartTime), toUnixTimestamp64Nano(EndTime), TraceId, SpanId,
    toString(Flow), Amount, toString(Currency), toString(ParentType), ParentIds, Compensates,
    __EXC_ID__, toString(Region), StatusMessage, IdempotencyKey, LinkTraceIds, LinkSpanIds
FROM hops FINAL
WHERE CorrelationId = {cid:String} AND __IN_SCOPE__
""".replace("__EXC_ID__", EXC_ID).replace("__IN_SCOPE__", _IN_SCOPE)
# At most {limit} attempts: a transaction with more is read again with ATTEMPTS_OF_FIRST_HOPS.
ATTEMPTS = _ATTEMPT_COLS + "LIMIT {limit:UInt32}\n"
# Every attempt of the first {hops} hops (by first start, then entity and step: the order of
# lineage/core/fold.py), for a transaction with too many attempts to read them all.
ATTEMPTS_OF_FIRST_HOPS = f"""{_ATTEMPT_COLS}    AND (EntityType, EntityId, Step) IN (
        SELECT EntityType, EntityId, Step FROM hops FINAL
        WHERE CorrelationId = {{cid:String}} AND {_IN_SCOPE}
        GROUP BY EntityType, EntityId, Step
        ORDER BY toUnixTimestamp64Milli(min(StartTime)), toString(EntityType), EntityId, toString(Step)
        LIMIT {{hops:UInt32}})
"""

# Hops (entity and step) of one correlation ID with no attempt in scope: shown only as a count.
WITHHELD = f"""
SELECT countIf(shown = 0) AS withheld FROM (
    SELECT countIf({_IN_SCOPE}) AS shown FROM hops
    WHERE CorrelationId = {{cid:String}}
    GROUP BY EntityType, EntityId, Step
)
"""

# Entity, parent and span keys of some correlation IDs (stitching walks from these).
KEYS = f"""
SELECT CorrelationId AS cid,
    groupUniqArray((toString(EntityType), EntityId)) AS ents,
    groupUniqArrayArray(arrayMap(p -> (toString(ParentType), p), ParentIds)) AS parents,
    groupUniqArray((TraceId, SpanId)) AS spans,
    groupUniqArrayArray(arrayZip(LinkTraceIds, LinkSpanIds)) AS links
FROM hops WHERE CorrelationId IN {{ids:Array(String)}} AND {_IN_SCOPE}
GROUP BY CorrelationId
"""


# Entity edges touching the given entities, with the total for "left out". An edge is
# the child hop's claim, so it shows only when that hop is in scope.
def _edges(limit: str) -> str:
    return f"""
SELECT ParentType AS parent_type, ParentId AS parent_id, ChildType AS child_type, ChildId AS child_id,
    count() OVER () AS total
FROM (
    SELECT DISTINCT ParentType, ParentId, ChildType, ChildId FROM entity_edges
    WHERE (KeyType, KeyId) IN {{ents:{_KEYS}}} AND {_IN_SCOPE}
)
ORDER BY parent_type, parent_id, child_type, child_id
LIMIT {{{limit}:UInt32}}
"""


EDGES = _edges("limit")


# Correlation IDs one step away: hops whose parent is one of our entities (edges keyed on
# us), hops of our parents, of our own entities elsewhere and of the spans we link to
# (hop_keys), and hops linking to our spans. Bounded by {limit}; "total" says how many.
# Only key rows of in-scope hops count: a neighbour linked only through hops outside the
# scope is neither listed nor counted in "total".
def _neighbours(rows: str) -> str:
    return f"""
SELECT cid, min(via) AS via, count() OVER () AS total FROM ({rows})
WHERE cid != '' AND cid NOT IN {{exclude:Array(String)}}
GROUP BY cid
ORDER BY cid
LIMIT {{limit:UInt32}}
"""


NEIGHBOURS = _neighbours(f"""
    SELECT CorrelationId AS cid, 'entity' AS via FROM entity_edges
    WHERE Direction = 'child' AND (KeyType, KeyId) IN {{ents:{_KEYS}}} AND {_IN_SCOPE}
    UNION ALL
    SELECT CorrelationId, if(KeyKind = 'span', 'link', 'entity') FROM hop_keys
    WHERE (KeyKind, KeyType, KeyId) IN {{keys:Array(Tuple(String, String, String))}} AND {_IN_SCOPE}
    UNION ALL
    SELECT CorrelationId, 'link' FROM span_links
    WHERE Direction = 'in' AND (KeyTraceId, KeySpanId) IN {{spans:{_KEYS}}} AND {_IN_SCOPE}
""")

# The same, for frontiers with many keys (a journal posting 10,000 invoices): the keys are
# read inside ClickHouse from the frontier's (in-scope) hops instead of being sent as parameters.
_FRONTIER = f"CorrelationId IN {{ids:Array(String)}} AND {_IN_SCOPE}"
NEIGHBOURS_BY_IDS = _neighbours(f"""
    SELECT CorrelationId AS cid, 'entity' AS via FROM entity_edges
    WHERE Direction = 'child' AND {_IN_SCOPE} AND (KeyType, KeyId) IN (
        SELECT toString(EntityType), EntityId FROM hops WHERE {_FRONTIER})
    UNION ALL
    SELECT CorrelationId, 'entity' FROM hop_keys
    WHERE KeyKind = 'entity' AND {_IN_SCOPE} AND (KeyType, KeyId) IN (
        SELECT toString(EntityType), EntityId FROM hops WHERE {_FRONTIER}
        UNION ALL
        SELECT toString(ParentType), pid FROM hops ARRAY JOIN ParentIds AS pid WHERE {_FRONTIER})
    UNION ALL
    SELECT CorrelationId, 'link' FROM hop_keys
    WHERE KeyKind = 'span' AND {_IN_SCOPE} AND (KeyType, KeyId) IN (
        SELECT lt, ls FROM hops ARRAY JOIN LinkTraceIds AS lt, LinkSpanIds AS ls WHERE {_FRONTIER})
    UNION ALL
    SELECT CorrelationId, 'link' FROM span_links
    WHERE Direction = 'in' AND {_IN_SCOPE} AND (KeyTraceId, KeySpanId) IN (
        SELECT TraceId, SpanId FROM hops WHERE {_FRONTIER})
""")

# A lookup's one read after its attempts (lineage/core/service.py ``transaction``): the first
# stitching step (NEIGHBOURS or NEIGHBOURS_BY_IDS from the transaction alone), its EDGES (at most
# {edge_limit}) and, for a scoped caller, its WITHHELD count, each query unchanged as one branch
# of a UNION ALL told apart by ``kind``. One round trip instead of three; rows in each branch's
# own order (neighbours by cid, edges by their four keys, all strings).
_STEP_COLS = "cid, via, total, parent_type, parent_id, child_type, child_id"


def _lookup_step(neighbours: str, withheld: bool) -> str:
    branches = [
        f"SELECT 'edge' AS kind, '' AS cid, '' AS via, total, toString(parent_type) AS parent_type, parent_id,"
        f" toString(child_type) AS child_type, child_id FROM ({_edges('edge_limit')})"
    ]
    if neighbours:
        branches.append(f"SELECT 'neighbour', cid, via, total, '', '', '', '' FROM ({neighbours})")
    if withheld:
        branches.append(f"SELECT 'withheld', '', '', withheld, '', '', '', '' FROM ({WITHHELD})")
    union = "\nUNION ALL\n".join(branches)
    return f"SELECT kind, {_STEP_COLS} FROM (\n{union}\n)\nORDER BY kind, {_STEP_COLS}\n"


# By (how the neighbours are found: "keys", "ids" or "" for no stitching, scoped caller).
LOOKUP_STEPS = {
    (how, scoped): _lookup_step({"keys": NEIGHBOURS, "ids": NEIGHBOURS_BY_IDS, "": ""}[how], scoped)
    for how in ("keys", "ids", "")
    for scoped in (False, True)
}

# Successful hops whose parent is one of the given entities: they complete the parent's
# transaction's stage even from another correlation ID (a batch journal posting invoices).
ADOPTED = f"""
SELECT toString(ParentType) AS parent_type, pid AS parent_id, toString(EntityType) AS entity_type,
    toString(Step) AS step, toUnixTimestamp64Milli(min(EndTime)) AS ok_ms, CorrelationId AS cid
FROM hops FINAL ARRAY JOIN ParentIds AS pid
WHERE Outcome = 'ok' AND (toString(ParentType), pid) IN {{ents:{_KEYS}}} AND {_IN_SCOPE}
    AND (CorrelationId, TraceId, SpanId) IN (
        SELECT CorrelationId, TraceId, SpanId FROM entity_edges
        WHERE Direction = 'child' AND (KeyType, KeyId) IN {{ents:{_KEYS}}})
GROUP BY ParentType, pid, EntityType, Step, CorrelationId
LIMIT 10000
"""

# -- transaction facts (for status and SLA): lineage/sql/facts_queries.py -------------------------

# -- exceptions: lineage/sql/exceptions.py -------------------------------------------------


# -- metrics ------------------------------------------------------------------------------
# Posting latency, the one definition: from the "from" step of an entity to the "to" step of
# a hop whose parent is that entity (works across correlation IDs: batch journals), for
# postings that ended in [since, until). Both hops must be in scope (the issue time of another
# scope's entity is not ours to see). ``lat`` has one row per posting; the lineage metric
# buckets it, the alert rules take a quantile or an error ratio of it (alerts/queries.py).
# The postings' rows: successful hops of the "to" step that ended in the window, in scope, one per
# parent they name (``pid``).
_POSTING_ROWS = f"""FROM hop_times ARRAY JOIN ParentIds AS pid
    WHERE Step = {{to_step:String}} AND Outcome = 'ok' AND EndTime >= {_SINCE} AND EndTime < {_UNTIL}
        AND {_IN_SCOPE}"""


def postings_cte(issuing_flow: str = "") -> str:
    """POSTINGS_CTE, its issuing hops optionally limited by an SQL condition (a flow's KPI)."""
    return f"""
WITH posts AS (
    -- one posting per entity and parent: a retried success of the same entity counts once.
    -- No FINAL here or below: min, argMin and any give the same answer with a span stored
    -- twice, and FINAL's merge-sort of the step's window was most of the query.
    SELECT toString(ParentType) AS pt, pid, min(EndTime) AS post_end, argMin(CorrelationId, EndTime) AS post_cid,
        toString(argMin(System, EndTime)) AS post_system, toString(argMin(Region, EndTime)) AS post_region,
        toString(argMin(LegalEntity, EndTime)) AS post_le
    {_POSTING_ROWS}
    GROUP BY ParentType, pid, EntityType, EntityId
),
issued AS (
    SELECT toString(EntityType) AS et, EntityId AS eid, min(EndTime) AS issued_at,
        toString(any(Region)) AS region, toString(any(LegalEntity)) AS legal_entity
    FROM hop_times
    WHERE Step = {{from_step:String}} AND Outcome = 'ok'{" AND " + issuing_flow if issuing_flow else ""}
        AND EndTime >= {_SINCE} - INTERVAL 7 DAY AND EndTime < {_UNTIL} AND {_IN_SCOPE}
        -- the parents of posts, from their rows (naming posts would aggregate it twice)
        AND (toString(EntityType), EntityId) IN (
            SELECT toString(ParentType), pid {_POSTING_ROWS})
    GROUP BY EntityType, EntityId
),
lat AS (
    SELECT p.post_cid AS cid, p.post_system AS system,
        if(p.post_region != '', p.post_region, i.region) AS region,
        if(p.post_le != '', p.post_le, i.legal_entity) AS legal_entity,
        toUnixTimestamp64Milli(p.post_end) AS end_ms,
        toUnixTimestamp64Milli(p.post_end) - toUnixTimestamp64Milli(i.issued_at) AS lat_ms
    FROM posts AS p INNER JOIN issued AS i ON i.et = p.pt AND i.eid = p.pid
)
"""


POSTINGS_CTE = postings_cte()

# Posting latency per bucket and group: lineage/business/kpis.py (the flow's posting_latency KPI).

# Completed stages per bucket: successful hops whose (entity type, step) is a stage.
THROUGHPUT = f"""
SELECT intDiv(toUnixTimestamp64Milli(EndTime), {{bucket_ms:Int64}}) * {{bucket_ms:Int64}} AS bucket_ms,
    transform(concat(EntityType, '|', Step), {{keys:Array(String)}}, {{names:Array(String)}}, '') AS stage,
    {_HOP_GROUP} AS grp,
    uniqExact(EntityType, EntityId, Step) AS n
FROM hop_times
WHERE Step IN {{steps:Array(String)}} AND Outcome = 'ok' AND EndTime >= fromUnixTimestamp64Milli({{since_ms:Int64}})
    AND EndTime < fromUnixTimestamp64Milli({{until_ms:Int64}})
    AND has({{keys:Array(String)}}, concat(EntityType, '|', Step))
    AND if(Flow = '', {{default_flow:String}}, toString(Flow)) = {{flow:String}}
    AND ({{system:String}} = '' OR toString(System) = {{system:String}}) AND {_IN_SCOPE}
GROUP BY bucket_ms, stage, grp
ORDER BY bucket_ms, stage, grp
LIMIT {{limit:UInt32}}
"""

# Entity-steps of a series stored late: successful hops of {steps} (with {keys}, only those
# (entity type, step) pairs, named as THROUGHPUT names them; with no keys, every entity type and
# no stage name) per bucket, whose first stored copy (hops.IngestedAt) came more than {grace_ms}
# after their bucket ended, so they changed a bucket already drawn as complete.
LATE_HOPS = f"""
SELECT bucket_ms, stage, grp, count() AS late
FROM (
    SELECT intDiv(toUnixTimestamp64Milli(EndTime), {{bucket_ms:Int64}}) * {{bucket_ms:Int64}} AS bucket_ms,
        transform(concat(EntityType, '|', Step), {{keys:Array(String)}}, {{names:Array(String)}}, '') AS stage,
        {_HOP_GROUP} AS grp,
        min(toUnixTimestamp64Milli(IngestedAt)) AS stored_ms
    FROM hops
    WHERE Step IN {{steps:Array(String)}} AND Outcome = 'ok' AND EndTime >= fromUnixTimestamp64Milli({{since_ms:Int64}})
        AND EndTime < fromUnixTimestamp64Milli({{until_ms:Int64}})
        AND (empty({{keys:Array(String)}}) OR has({{keys:Array(String)}}, concat(EntityType, '|', Step)))
        AND ({{flow:String}} = '' OR if(Flow = '', {{default_flow:String}}, toString(Flow)) = {{flow:String}})
        AND ({{system:String}} = '' OR toString(System) = {{system:String}}) AND {_IN_SCOPE}
    GROUP BY bucket_ms, stage, grp, EntityType, EntityId, Step
)
WHERE stored_ms > bucket_ms + {{bucket_ms:Int64}} + {{grace_ms:Int64}}
GROUP BY bucket_ms, stage, grp
LIMIT {{limit:UInt32}}
"""

# The KPI route's late marks: per bucket, measured step, flow and group, how many entity-steps
# were first stored after the bucket closed plus the grace, counting only successes
# (``late_ok``: what latency and throughput measure) or any attempt (``late_any``: what the
# failure rate measures). A step with no success in the bucket has ``ok_ms`` 0: never late_ok.
LATE_KPI_HOPS = f"""
SELECT bucket_ms, step, flow, grp,
    countIf(ok_ms > bucket_ms + {{bucket_ms:Int64}} + {{grace_ms:Int64}}) AS late_ok,
    countIf(any_ms > bucket_ms + {{bucket_ms:Int64}} + {{grace_ms:Int64}}) AS late_any
FROM (
    SELECT intDiv(toUnixTimestamp64Milli(EndTime), {{bucket_ms:Int64}}) * {{bucket_ms:Int64}} AS bucket_ms,
        toString(Step) AS step, if(Flow = '', {{default_flow:String}}, toString(Flow)) AS flow,
        {_HOP_GROUP} AS grp,
        minIf(toUnixTimestamp64Milli(IngestedAt), Outcome = 'ok') AS ok_ms,
        min(toUnixTimestamp64Milli(IngestedAt)) AS any_ms
    FROM hops
    WHERE Step IN {{steps:Array(String)}} AND EndTime >= fromUnixTimestamp64Milli({{since_ms:Int64}})
        AND EndTime < fromUnixTimestamp64Milli({{until_ms:Int64}})
        AND ({{system:String}} = '' OR toString(System) = {{system:String}}) AND {_IN_SCOPE}
    GROUP BY bucket_ms, step, flow, grp, EntityType, EntityId
)
GROUP BY bucket_ms, step, flow, grp
HAVING late_any > 0
LIMIT {{limit:UInt32}}
"""

# Correlation IDs an entity belongs to, through its hops in scope.
_ENTITY_KEY = "KeyKind = 'entity' AND KeyType = {entity_type:String} AND KeyId = {entity_id:String}"
# A bare business key (no type): the entity types that have it, in scope (search).
ENTITY_TYPES_OF_KEY = f"""
SELECT DISTINCT KeyType AS entity_type FROM hop_keys
WHERE KeyKind = 'entity' AND KeyId = {{entity_id:String}} AND {_IN_SCOPE}
ORDER BY entity_type
LIMIT 100
"""
ENTITY_CORRELATIONS = f"""
SELECT CorrelationId AS cid, toUnixTimestamp64Milli(min(StartTime)) AS first_ms, count() OVER () AS total
FROM hop_keys
WHERE {_ENTITY_KEY}
    AND {_IN_SCOPE}
GROUP BY CorrelationId
ORDER BY first_ms, cid
LIMIT {{limit:UInt32}}
"""


# The systems, regions and legal entities the caller's hops carried since {since_ms}: what a
# view's filters are checked against (a value none of them carries is reported, never shown as
# an empty "all clear").
DIMENSIONS = f"""
SELECT groupUniqArrayIf(toString(System), System != '') AS systems,
    groupUniqArrayIf(toString(Region), Region != '') AS regions,
    groupUniqArrayIf(toString(LegalEntity), LegalEntity != '') AS legal_entities
FROM hop_times
WHERE EndTime >= {_SINCE} AND {_IN_SCOPE}
"""
