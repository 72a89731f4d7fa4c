"""SQL of the close gate: the period's hops not yet sealed, and the replays of its exceptions
still in flight. Values always go through binding; times are epoch ms."""

from __future__ import annotations

from lineage.business.queries import BUSINESS_PERIOD, DATE_OK, PERIOD_OK
from lineage.core.scope import in_scope

_IN_SCOPE = in_scope()

# The period's hops: the one definition behind the gate's ``unsealed``, the certificate's
# commitment and ``verify --store``. Under the rule ``business_date`` (lineage/close/hopset.py)
# a hop is the period's when its business period (BUSINESS_PERIOD: its own biz.period, else
# biz.posting_date, else its hop time in the entity's zone {tz}) is {period}, whenever it
# arrived, among hops that ended from {since_ms} to {until_ms} (the period widened as the gate
# looks for its transactions); under ``hop_time`` (certificates signed before business dates)
# every hop that ended in [since_ms, until_ms), the period itself. In scope; each hop once, by
# its latest row (a hop stored before migration 182 has a row without its business date).
PERIOD_HOPS = f"""
SELECT TraceId AS trace_id, SpanId AS span_id, any(LegalEntity) AS legal_entity, min(EndTime) AS end_time
FROM hops
WHERE EndTime >= fromUnixTimestamp64Milli({{since_ms:Int64}}) AND EndTime < fromUnixTimestamp64Milli({{until_ms:Int64}})
    AND {_IN_SCOPE}
GROUP BY TraceId, SpanId
HAVING {{rule:String}} = 'hop_time' OR argMax({BUSINESS_PERIOD}, IngestedAt) = {{period:String}}
"""

# The period's hops that no seal covers yet, per legal entity (no row: none). Seals are made
# after ingest, so only leaves sealed since the earliest of them ended can cover them.
UNSEALED = f"""
SELECT toString(legal_entity) AS legal_entity, count() AS n, min(toUnixTimestamp64Milli(end_time)) AS oldest_ms
FROM ({PERIOD_HOPS})
WHERE (trace_id, span_id) NOT IN (
        SELECT TraceId, SpanId FROM sealed_spans WHERE SealedAt >= fromUnixTimestamp64Milli({{since_ms:Int64}})
    )
GROUP BY legal_entity
"""

# Replays of the given exceptions (the period's) requested, awaiting approval or in flight, per
# legal entity: its own replays of its own exceptions (as a caller scoped to it alone reads
# them), the first {limit} of each.
REPLAYS_IN_FLIGHT = f"""
SELECT toString(LegalEntity) AS legal_entity, Id AS id, ExceptionId AS exception_id, CorrelationId AS correlation_id,
    toString(State) AS state, Amount AS amount, toString(Currency) AS currency
FROM replays FINAL
WHERE (toString(LegalEntity), ExceptionId) IN {{ids:Array(Tuple(String, String))}} AND State IN {{states:Array(String)}}
    AND {_IN_SCOPE}
ORDER BY CreatedAt, Id
LIMIT {{limit:UInt32}} BY legal_entity
"""

# The period's sealed hops with their leaf hashes, in a stable order: the certificate's
# commitment to exactly the hops behind its figures.
_PERIOD_LEAVES = f"""
SELECT l.TraceId AS trace_id, l.SpanId AS span_id, l.LeafHash AS leaf_hash, l.CorrelationId AS correlation_id
FROM seal_leaves AS l
INNER JOIN ({PERIOD_HOPS}) AS h ON l.TraceId = h.trace_id AND l.SpanId = h.span_id
ORDER BY l.TraceId, l.SpanId
LIMIT 1 BY l.TraceId, l.SpanId
"""
PERIOD_LEAVES = f"SELECT trace_id, span_id, hex(leaf_hash) AS leaf, correlation_id FROM ({_PERIOD_LEAVES})"
# Kept with a review: the hops its certificate commits to.
CERTIFY_HOPS = f"""
INSERT INTO close_certified_hops (LegalEntity, Period, Round, TraceId, SpanId, LeafHash)
SELECT {{le:String}}, {{period:String}}, {{round:UInt32}}, trace_id, span_id, leaf_hash FROM ({_PERIOD_LEAVES})
"""
CERTIFIED_HOPS = """
SELECT TraceId AS trace_id, SpanId AS span_id, hex(LeafHash) AS leaf FROM close_certified_hops
WHERE LegalEntity = {le:String} AND Period = {period:String} AND Round = {round:UInt32}
ORDER BY TraceId, SpanId
"""
CERTIFICATES = """
SELECT LegalEntity AS legal_entity, Period AS period, Round AS round, Certificate AS certificate
FROM close_signoffs WHERE Action = 'reviewed'
ORDER BY LegalEntity, Period, Round
"""

SIGNOFFS = """
SELECT Round AS round, toString(Action) AS action, Subject AS subject, toUnixTimestamp64Milli(At) AS at_ms,
    Figures AS figures, Certificate AS certificate
FROM close_signoffs
WHERE LegalEntity = {le:String} AND Period = {period:String}
ORDER BY Round, At
"""

INSERT_SIGNOFF = "close_signoffs"
SIGNOFF_COLUMNS = ("LegalEntity", "Period", "Round", "Action", "Subject", "At", "Figures", "Certificate")

# Hops of the closing steps the gate counted in the period by their hop time because their
# business date could not be read (lineage/business/queries.py BUSINESS_PERIOD): named in the
# gate's answer, never dropped. The first {limit} of each legal entity.
MALFORMED_DATES = f"""
SELECT toString(LegalEntity) AS legal_entity, toString(EntityType) AS entity_type, EntityId AS entity_id,
    toString(Step) AS step,
    CorrelationId AS correlation_id, PostingDate AS posting_date, BizPeriod AS biz_period,
    toUnixTimestamp64Milli(EndTime) AS at_ms
FROM hop_times FINAL
WHERE Step IN {{steps:Array(String)}} AND EndTime >= fromUnixTimestamp64Milli({{since_ms:Int64}})
    AND EndTime < fromUnixTimestamp64Milli({{until_ms:Int64}}) AND {_IN_SCOPE}
    AND ((PostingDate != '' AND NOT {DATE_OK}) OR (BizPeriod != '' AND NOT {PERIOD_OK}))
    AND {BUSINESS_PERIOD} = {{period:String}}
ORDER BY EndTime, TraceId, SpanId
LIMIT {{limit:UInt32}} BY legal_entity
"""

# Which expected batch journals arrived: an ok hop of the journal's entity type and step with
# the expected entity id, in scope (found by business key through hop_keys, whatever its time).
JOURNALS_ARRIVED = f"""
SELECT DISTINCT toString(EntityType) AS entity_type, toString(Step) AS step, EntityId AS entity_id
FROM hops
WHERE CorrelationId IN (
        SELECT CorrelationId FROM hop_keys
        WHERE KeyKind = 'entity' AND KeyId IN {{ids:Array(String)}}
    )
    AND (toString(EntityType), toString(Step), EntityId) IN {{keys:Array(Tuple(String, String, String))}}
    AND Outcome = 'ok' AND Compensates = '' AND {_IN_SCOPE}
"""
