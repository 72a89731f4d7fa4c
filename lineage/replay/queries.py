"""SQL of the replay package. Values always go through binding; times are epoch ms."""

from __future__ import annotations

from lineage.core.scope import in_scope

_COLS = """Id AS id, Version AS version, ExceptionId AS exception_id, CorrelationId AS correlation_id,
    toString(Flow) AS flow, toString(EntityType) AS entity_type, EntityId AS entity_id, toString(Step) AS step,
    toString(System) AS system, toString(Category) AS category, Amount AS amount, toString(Currency) AS currency,
    toString(Region) AS region, toString(LegalEntity) AS legal_entity, toString(State) AS state,
    RequestedBy AS requested_by, ApprovedBy AS approved_by, Reason AS reason, Attempts AS attempts,
    toUnixTimestamp64Milli(NextAttemptAt) AS next_attempt_ms, toUnixTimestamp64Milli(CreatedAt) AS created_ms,
    toUnixTimestamp64Milli(UpdatedAt) AS updated_ms, LastError AS last_error, TraceId AS trace_id,
    ConfirmedSpan AS confirmed_span"""

# Row field -> column, in insert order.
FIELDS: dict[str, str] = {
    "id": "Id",
    "version": "Version",
    "exception_id": "ExceptionId",
    "correlation_id": "CorrelationId",
    "flow": "Flow",
    "entity_type": "EntityType",
    "entity_id": "EntityId",
    "step": "Step",
    "system": "System",
    "category": "Category",
    "amount": "Amount",
    "currency": "Currency",
    "region": "Region",
    "legal_entity": "LegalEntity",
    "state": "State",
    "requested_by": "RequestedBy",
    "approved_by": "ApprovedBy",
    "reason": "Reason",
    "attempts": "Attempts",
    "next_attempt_ms": "NextAttemptAt",
    "created_ms": "CreatedAt",
    "updated_ms": "UpdatedAt",
    "last_error": "LastError",
    "trace_id": "TraceId",
    "confirmed_span": "ConfirmedSpan",
}

# The current version of one replay.
BY_ID = f"SELECT {_COLS} FROM replays FINAL WHERE Id = {{id:String}} AND {in_scope()} LIMIT 1"

# Replays of some exceptions, newest first (in-flight checks, the transaction document).
BY_EXCEPTIONS = f"""
SELECT {_COLS} FROM replays FINAL WHERE ExceptionId IN {{ids:Array(String)}} AND {in_scope()}
ORDER BY CreatedAt DESC, Id LIMIT {{limit:UInt32}}
"""

LIST = f"""
SELECT {_COLS} FROM replays FINAL
WHERE ({{state:String}} = '' OR State = {{state:String}}) AND ({{system:String}} = '' OR System = {{system:String}})
    AND {in_scope()}
ORDER BY CreatedAt DESC, Id LIMIT {{limit:UInt32}}
"""

# Replays the worker must send now: approved, or sent and due for a (re)attempt.
DUE = f"""
SELECT {_COLS} FROM replays FINAL
WHERE State IN ('approved', 'sent') AND NextAttemptAt <= fromUnixTimestamp64Milli({{now_ms:Int64}})
ORDER BY NextAttemptAt, CreatedAt, Id LIMIT {{limit:UInt32}}
"""

# How many replays are due now and since when (the worker's queue, for its metrics).
BACKLOG = """
SELECT count() AS due, min(toUnixTimestamp64Milli(NextAttemptAt)) AS oldest_ms FROM replays FINAL
WHERE State IN ('approved', 'sent') AND NextAttemptAt <= fromUnixTimestamp64Milli({now_ms:Int64})
"""

# Replays waiting for their retried hop: sent or delivered, or failed since ``failed_since_ms``.
AWAITING = f"""
SELECT {_COLS} FROM replays FINAL
WHERE State IN ('sent', 'delivered')
    OR (State = 'failed' AND UpdatedAt >= fromUnixTimestamp64Milli({{failed_since_ms:Int64}}))
ORDER BY CreatedAt, Id LIMIT {{limit:UInt32}}
"""

HISTORY = """
SELECT ReplayId AS replay_id, State AS state, Actor AS actor, Note AS note, toUnixTimestamp64Milli(At) AS at_ms
FROM replay_events WHERE ReplayId IN {ids:Array(String)} ORDER BY ReplayId, At, Seq LIMIT 10000
"""

INSERT_EVENT = """
INSERT INTO replay_events (ReplayId, At, Seq, State, Actor, Note)
SELECT {id:String}, fromUnixTimestamp64Milli({at_ms:Int64}), {seq:UInt32}, {state:String}, {actor:String},
    {note:String}
"""

# Per (entity type, entity id, step): any ok hop, and amount/flow/region facts of its hops.
# Bounded: correlation IDs come from hop_keys' primary key, then hops' primary key.
ENTITY_FACTS = f"""
SELECT toString(EntityType) AS entity_type, EntityId AS entity_id, toString(Step) AS step,
    countIf(Outcome = 'ok') > 0 AS succeeded,
    toUnixTimestamp64Milli(maxIf(StartTime, Outcome = 'ok')) AS last_ok_ms,
    argMaxIf(Amount, StartTime, Amount IS NOT NULL) AS amount,
    toString(argMaxIf(Currency, StartTime, Currency != '')) AS currency,
    toString(argMaxIf(Flow, StartTime, Flow != '')) AS flow,
    toString(argMax(Region, StartTime)) AS region, toString(argMax(LegalEntity, StartTime)) AS legal_entity,
    argMaxIf(concat(TraceId, '/', SpanId), StartTime, Outcome = 'ok') AS ok_span
FROM hops
WHERE CorrelationId IN (
        SELECT CorrelationId FROM hop_keys
        WHERE KeyKind = 'entity' AND (KeyType, KeyId) IN {{ents:Array(Tuple(String, String))}})
    AND (toString(EntityType), EntityId, toString(Step)) IN {{keys:Array(Tuple(String, String, String))}}
    AND {in_scope()}
GROUP BY EntityType, EntityId, Step
LIMIT 10000
"""
