"""SQL of the auth tables: API tokens and the access log. Every value is bound."""

from __future__ import annotations

from lineage.core.scope import covers_sql

# Append-only: a token's creation and its revocation are two rows; nothing is edited, so
# the table is also the token's history. Only the SHA-256 of the secret is stored.
CREATE_API_TOKENS = """
CREATE TABLE IF NOT EXISTS api_tokens (
    Id String,
    Event Enum8('create' = 1, 'revoke' = 2),
    At DateTime64(3, 'UTC'),
    Actor String,
    Subject String,
    Role LowCardinality(String),
    LegalEntities Array(String),
    Regions Array(String),
    SecretHash String,
    ExpiresAt Nullable(DateTime64(3, 'UTC'))
) ENGINE = MergeTree
ORDER BY (Id, At)
"""
TOKEN_COLUMNS = (
    "Id",
    "Event",
    "At",
    "Actor",
    "Subject",
    "Role",
    "LegalEntities",
    "Regions",
    "SecretHash",
    "ExpiresAt",
)
_TOKEN_SELECT = f"SELECT {', '.join(TOKEN_COLUMNS)} FROM api_tokens"
# A scoped caller sees only tokens whose scope lies within its own (the creation row holds the scope).
_COVERED = f"Id IN (SELECT Id FROM api_tokens WHERE Event = 'create' AND {covers_sql('LegalEntities', 'Regions')})"
SELECT_TOKEN = f"{_TOKEN_SELECT} WHERE Id = {{id:String}} AND {_COVERED} ORDER BY At, Event"
SELECT_TOKENS = f"{_TOKEN_SELECT} WHERE {_COVERED} ORDER BY Id, At, Event LIMIT {{limit:UInt32}}"
COUNT_TOKENS = "SELECT uniqExact(Id) FROM api_tokens"

# Append-only record of who read or changed what.
CREATE_ACCESS_LOG = """
CREATE TABLE IF NOT EXISTS access_log (
    At DateTime64(3, 'UTC'),
    Subject String,
    Role LowCardinality(String),
    Via LowCardinality(String),
    Action LowCardinality(String),
    Target String,
    Method LowCardinality(String),
    Path String,
    Client String,
    Status UInt16
) ENGINE = MergeTree
PARTITION BY toYYYYMM(At)
ORDER BY (At, Subject)
"""
ACCESS_COLUMNS = ("At", "Subject", "Role", "Via", "Action", "Target", "Method", "Path", "Client", "Status", "Scopes")

# Version 152: each entry names the data it touched as (legal entity, region) pairs, "*" for a
# dimension without limit (see lineage/auth/targets.py), so the log is scoped like any read.
# Entries written before it have none: only unrestricted callers see them.
ADD_ACCESS_SCOPES = "ALTER TABLE access_log ADD COLUMN IF NOT EXISTS Scopes Array(Tuple(String, String))"

# An entry is visible to a scoped caller when a pair it touched lies within the caller's scope.
_VISIBLE = (
    "arrayExists(p -> (empty({scope_le:Array(String)}) OR has({scope_le:Array(String)}, p.1))"
    " AND (empty({scope_rg:Array(String)}) OR has({scope_rg:Array(String)}, p.2)), Scopes)"
)
_ACCESS_FILTER = """
WHERE At >= fromUnixTimestamp64Milli({since_ms:Int64}, 'UTC')
  AND At < fromUnixTimestamp64Milli({until_ms:Int64}, 'UTC')
  AND ({subject:String} = '' OR Subject = {subject:String}
       OR (position(Subject, '@') > 0 AND lowerUTF8(trimBoth(Subject)) = {subject:String}))
  AND ({action:String} = '' OR Action = {action:String})
"""
_UNRESTRICTED = "(empty({scope_le:Array(String)}) AND empty({scope_rg:Array(String)}))"
SELECT_ACCESS = f"""
SELECT {", ".join(ACCESS_COLUMNS[:-1])} FROM access_log
{_ACCESS_FILTER}  AND ({_UNRESTRICTED} OR {_VISIBLE})
ORDER BY At DESC
LIMIT {{limit:UInt32}}
"""
COUNT_WITHHELD = f"""
SELECT count() FROM access_log
{_ACCESS_FILTER}  AND NOT ({_UNRESTRICTED} OR {_VISIBLE})
"""

# Target resolution (lineage/auth/targets.py): the (legal entity, region) pairs of the hops
# behind each target, read unscoped, so an entry is withheld from whoever may not see its target.
_PAIRS = "groupUniqArray(64)((toString(LegalEntity), toString(Region)))"
TRANSACTION_SCOPES = f"""
SELECT CorrelationId, {_PAIRS} FROM hops
WHERE CorrelationId IN {{ids:Array(String)}} GROUP BY CorrelationId
"""
ENTITY_SCOPES = f"""
SELECT concat(KeyType, ':', KeyId) AS target, {_PAIRS} FROM hop_keys
WHERE KeyKind = 'entity' AND (KeyType, KeyId) IN (
    SELECT t.1, t.2 FROM (SELECT arrayJoin({{keys:Array(Tuple(String, String))}}) AS t))
GROUP BY target
"""
BARE_KEY_SCOPES = f"""
SELECT KeyId, {_PAIRS} FROM hop_keys
WHERE KeyKind = 'entity' AND KeyId IN {{ids:Array(String)}} GROUP BY KeyId
"""
REPLAY_SCOPES = f"SELECT Id, {_PAIRS} FROM replays WHERE Id IN {{ids:Array(String)}} GROUP BY Id"
TOKEN_SCOPES = """
SELECT Id, any(LegalEntities), any(Regions) FROM api_tokens
WHERE Id IN {ids:Array(String)} AND Event = 'create' GROUP BY Id
"""


def exception_scopes(exc_id: str) -> str:
    """Pairs of the failed hops behind exception ids (the id is a hash of entity and step)."""
    return f"""
SELECT {exc_id} AS id, {_PAIRS} FROM hops
WHERE CorrelationId IN (
    SELECT CorrelationId FROM hop_failures
    WHERE StartTime >= fromUnixTimestamp64Milli({{since_ms:Int64}}) AND {exc_id} IN {{ids:Array(String)}})
  AND Outcome != 'ok' AND id IN {{ids:Array(String)}}
GROUP BY id
"""
