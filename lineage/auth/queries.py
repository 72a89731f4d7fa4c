"""SQL of the auth tables: API tokens and the access log. Every value is bound."""

from __future__ import annotations

from lineage.scope import covers_sql

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
ACCESS_COLUMNS = ("At", "Subject", "Role", "Via", "Action", "Target", "Method", "Path", "Client", "Status")
SELECT_ACCESS = f"""
SELECT {", ".join(ACCESS_COLUMNS)} FROM access_log
WHERE At >= fromUnixTimestamp64Milli({{since_ms:Int64}}, 'UTC')
  AND At < fromUnixTimestamp64Milli({{until_ms:Int64}}, 'UTC')
  AND ({{subject:String}} = '' OR Subject = {{subject:String}})
  AND ({{action:String}} = '' OR Action = {{action:String}})
ORDER BY At DESC
LIMIT {{limit:UInt32}}
"""
