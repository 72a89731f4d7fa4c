"""SQL of the close gate: the period's hops not yet sealed, and the replays of its exceptions
still in flight. Values always go through binding; times are epoch ms."""

from __future__ import annotations

from lineage.core.scope import in_scope

_IN_SCOPE = in_scope()

# Hops of the period (ended in it, in scope) that no seal covers yet. Seals are made after
# ingest, so only leaves sealed since the period began can cover them.
UNSEALED = f"""
SELECT count() AS n, min(toUnixTimestamp64Milli(EndTime)) AS oldest_ms
FROM hops
WHERE EndTime >= fromUnixTimestamp64Milli({{start_ms:Int64}}) AND EndTime < fromUnixTimestamp64Milli({{end_ms:Int64}})
    AND {_IN_SCOPE}
    AND (TraceId, SpanId) NOT IN (
        SELECT TraceId, SpanId FROM sealed_spans WHERE SealedAt >= fromUnixTimestamp64Milli({{start_ms:Int64}})
    )
"""

# Replays of the given exceptions (the period's) requested, awaiting approval or in flight.
REPLAYS_IN_FLIGHT = f"""
SELECT Id AS id, ExceptionId AS exception_id, CorrelationId AS correlation_id, toString(State) AS state,
    Amount AS amount, toString(Currency) AS currency
FROM replays FINAL
WHERE ExceptionId IN {{ids:Array(String)}} AND State IN {{states:Array(String)}} AND {_IN_SCOPE}
ORDER BY CreatedAt, Id
LIMIT {{limit:UInt32}}
"""

# Leaf hashes of the period's sealed hops (in scope), in a stable order: the certificate's
# commitment to exactly the hops behind its figures.
PERIOD_LEAVES = f"""
SELECT hex(l.LeafHash) AS leaf
FROM seal_leaves AS l
INNER JOIN (
    SELECT DISTINCT TraceId, SpanId FROM hops
    WHERE EndTime >= fromUnixTimestamp64Milli({{start_ms:Int64}})
        AND EndTime < fromUnixTimestamp64Milli({{end_ms:Int64}}) AND {_IN_SCOPE}
) AS h ON l.TraceId = h.TraceId AND l.SpanId = h.SpanId
ORDER BY l.TraceId, l.SpanId
LIMIT 1 BY l.TraceId, l.SpanId
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
