"""SQL of the tickets: the outbox, the exception-to-ticket links, the exceptions a ticket rule
opens a ticket for and the ledgerline actions to mirror on tickets. Values always bound."""

from __future__ import annotations

from lineage.sql.exceptions import exceptions_cte

# -- schema (alerts/schema.py, migration 202) -----------------------------------------------
# One row per outbound ticket action (open, comment, resolve); its latest version is its state.
# The Id is derived from what caused the action, so enqueuing the same cause twice is one row.
CREATE_OUTBOX = """
CREATE TABLE IF NOT EXISTS ticket_outbox (
    Id String,
    Receiver LowCardinality(String),
    ExceptionId String,
    Kind Enum8('create' = 1, 'comment' = 2, 'resolve' = 3),
    Payload String,
    State Enum8('pending' = 1, 'done' = 2, 'failed' = 3),
    Attempts UInt32,
    NextAt Int64,
    LastError String,
    CreatedAt Int64,
    Version UInt64
) ENGINE = ReplacingMergeTree(Version)
ORDER BY Id
"""
# Which ticket an exception has on which receiver (key shown to people, id used in URLs);
# CreatedAt: when its open was asked (ledgerline actions from then on are mirrored on it).
CREATE_TICKETS = """
CREATE TABLE IF NOT EXISTS exception_tickets (
    ExceptionId String,
    Receiver LowCardinality(String),
    TicketKey String,
    TicketId String,
    TicketUrl String,
    CreatedAt DateTime64(3)
) ENGINE = ReplacingMergeTree
ORDER BY (ExceptionId, Receiver)
"""
# The trail gains an entry naming the ticket (every earlier value kept, as migration 171 did).
TICKET_IN_TRAIL = (
    "ALTER TABLE exception_actions MODIFY COLUMN Action Enum8('ack' = 1, 'resolve' = 2, "
    "'replay_requested' = 3, 'replay_approved' = 4, 'replay_cancelled' = 5, 'replay_failed' = 6, "
    "'ticket_opened' = 7)"
)

OUTBOX_COLUMNS = [
    "Id",
    "Receiver",
    "ExceptionId",
    "Kind",
    "Payload",
    "State",
    "Attempts",
    "NextAt",
    "LastError",
    "CreatedAt",
    "Version",
]
_OUTBOX_COLS = (
    "Id, Receiver, ExceptionId, toString(Kind), Payload, toString(State), Attempts, NextAt, LastError, CreatedAt"
)

# FINAL: the outbox is small (one row per action), and a stale version would resend.
SELECT_DUE = f"""
SELECT {_OUTBOX_COLS} FROM ticket_outbox FINAL
WHERE State = 'pending' AND NextAt <= {{now_ms:Int64}}
ORDER BY CreatedAt, Id
LIMIT {{limit:UInt32}}
"""
SELECT_OUTBOX = f"SELECT {_OUTBOX_COLS} FROM ticket_outbox FINAL ORDER BY CreatedAt, Id LIMIT {{limit:UInt32}}"
SELECT_KNOWN_IDS = "SELECT Id FROM ticket_outbox WHERE Id IN {ids:Array(String)}"

TICKET_COLUMNS = ["ExceptionId", "Receiver", "TicketKey", "TicketId", "TicketUrl", "CreatedAt"]
SELECT_TICKET = """
SELECT ExceptionId, TicketKey, TicketId, TicketUrl FROM exception_tickets FINAL
WHERE ExceptionId = {id:String} AND Receiver = {receiver:String}
LIMIT 1
"""
# A ticket named by the other side: by its key (INC0010001, OPS-7) or its id (sys_id).
FIND_TICKET = """
SELECT ExceptionId, TicketKey, TicketId, TicketUrl FROM exception_tickets FINAL
WHERE Receiver = {receiver:String} AND (TicketKey = {key:String} OR TicketId = {key:String})
LIMIT 1
"""
INSERT_TRAIL = """
INSERT INTO exception_actions (ExceptionId, Action, Actor, Note, At, EntityType, EntityId, Step)
SELECT {id:String}, 'ticket_opened', {actor:String}, {note:String}, fromUnixTimestamp64Milli({at_ms:Int64}),
    {entity_type:String}, {entity_id:String}, {step:String}
"""

# Open exceptions with a failure in the lookback, of the rule's categories (all when empty), with
# no ticket asked of this receiver yet: the candidates of a ticket rule (amount checked after).
_SINCE = "fromUnixTimestamp64Milli({since_ms:Int64})"
OPEN_CANDIDATES = (
    exceptions_cte(f"StartTime >= {_SINCE}", _SINCE)
    + """
SELECT id, entity_type, entity_id, step, correlation_id, system, region, category, last_failure,
    message, first_ms, last_ms, closed_ms, attempts, state, recoverable
FROM x
WHERE state = 'open' AND (empty({categories:Array(String)}) OR has({categories:Array(String)}, category))
    AND id NOT IN (SELECT ExceptionId FROM ticket_outbox WHERE Receiver = {receiver:String} AND Kind = 'create')
ORDER BY first_ms, id
LIMIT {limit:UInt32}
"""
)

# Acknowledgements and resolutions made in ledgerline after a ticket was opened, to mirror on
# it, not yet in the outbox (the Id of a mirrored action: receiver/exception/action/at_ms, as
# alerts/tickets/outbox.py's ``action_id`` makes it). A resolve that came from this very
# ticket (its note starts "[receiver KEY]", alerts/tickets/api.py) is not sent back.
ACTIONS_TO_MIRROR = """
SELECT a.ExceptionId AS id, toString(a.Action) AS action, a.Actor AS actor, a.Note AS note,
    toUnixTimestamp64Milli(a.At) AS at_ms, t.TicketKey AS ticket_key
FROM exception_actions AS a
INNER JOIN (SELECT ExceptionId, TicketKey, CreatedAt FROM exception_tickets FINAL
            WHERE Receiver = {receiver:String}) AS t ON t.ExceptionId = a.ExceptionId
WHERE a.Action IN ('ack', 'resolve') AND a.At >= t.CreatedAt
    AND a.At >= fromUnixTimestamp64Milli({since_ms:Int64})
    AND NOT startsWith(a.Note, concat('[', {receiver:String}, ' ', t.TicketKey, ']'))
    AND concat({receiver:String}, '/', a.ExceptionId, '/', toString(a.Action), '/',
               toString(toUnixTimestamp64Milli(a.At))) NOT IN (SELECT Id FROM ticket_outbox)
ORDER BY a.At, a.ExceptionId
LIMIT {limit:UInt32}
"""
TRAIL_HAS_TICKET = """
SELECT 1 FROM exception_actions
WHERE ExceptionId = {id:String} AND Action = 'ticket_opened' AND Actor = {actor:String}
LIMIT 1
"""
