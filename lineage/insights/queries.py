"""SQL of the insights routes. Values always go through binding (``{name:Type}``); every
query over hops binds the caller's scope (:func:`lineage.core.scope.in_scope`) and is bounded."""

from __future__ import annotations

from lineage.business.queries import FAILED
from lineage.core.scope import in_scope
from lineage.sql.queries import POSTINGS_CTE

_SINCE = "fromUnixTimestamp64Milli({since_ms:Int64})"
_UNTIL = "fromUnixTimestamp64Milli({until_ms:Int64})"
_IN_SCOPE = in_scope()

# Systems that reported a hop in the window (hop_times is partitioned by month of EndTime).
SYSTEMS = f"""
SELECT toString(System) AS system, count() AS hops, toUnixTimestamp64Milli(max(EndTime)) AS last_ms
FROM hop_times
WHERE EndTime >= {_SINCE} AND EndTime < {_UNTIL} AND System != '' AND {_IN_SCOPE}
GROUP BY System
ORDER BY system
LIMIT {{limit:UInt32}}
"""

# Posting latency of every posting in the window (not bucket medians), counted into the bins
# whose lower edges are {edges} (ms, ascending; bin i holds edges[i] <= x < edges[i+1]), plus
# exact quantiles and the maximum. The postings are lineage's one definition (POSTINGS_CTE),
# filtered by system, region and legal entity of the posting (region and legal entity fall
# back to the issuing hop's when the posting hop carries none).
LATENCY_HISTOGRAM = (
    POSTINGS_CTE
    + """,
filtered AS (
    SELECT greatest(lat_ms, 0) AS ms FROM lat
    WHERE ({system:String} = '' OR system = {system:String})
        AND ({region:String} = '' OR region = {region:String})
        AND ({legal_entity:String} = '' OR legal_entity = {legal_entity:String})
)
SELECT count() AS n, max(ms) AS max_ms, sum(ms) AS sum_ms, quantilesExact(0.5, 0.95, 0.99)(ms) AS q,
    countIf(ms >= {sla_ms:Int64}) AS over_sla,
    sumMap([arrayCount(e -> e <= ms, {edges:Array(Int64)})], [toUInt64(1)]) AS bins
FROM filtered
"""
)

# Completed and failed hops of every flow's stages that ended in the window, per stage, system,
# region and legal entity (GET /metrics/business). Completed is the throughput route's rule (one
# per entity and step, lineage/sql/queries.py THROUGHPUT), failed the failure-rate KPI's (failed
# attempts, a duplicated span once, compensations apart: lineage/business/queries.py).
HOP_COUNTS = f"""
SELECT if(Flow = '', {{default_flow:String}}, toString(Flow)) AS flow,
    transform(concat(flow, '|', EntityType, '|', Step), {{keys:Array(String)}}, {{names:Array(String)}}, '') AS stage,
    toString(System) AS system, toString(Region) AS region, toString(LegalEntity) AS legal_entity,
    uniqExactIf(EntityType, EntityId, Step, Outcome = 'ok') AS completed,
    uniqExactIf(TraceId, SpanId, Compensates = '' AND {FAILED}) AS failed
FROM hop_times
WHERE Step IN {{steps:Array(String)}} AND EndTime >= {_SINCE} AND EndTime < {_UNTIL}
    AND has({{keys:Array(String)}}, concat(flow, '|', EntityType, '|', Step))
    AND {_IN_SCOPE}
GROUP BY flow, stage, system, region, legal_entity
LIMIT {{limit:UInt32}}
"""
