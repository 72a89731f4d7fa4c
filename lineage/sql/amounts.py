"""SQL of amounts: the money an exception's entity or a transaction carries (its latest hop with
an amount, in scope), read by correlation ID (the primary key of hops)."""

from __future__ import annotations

from lineage.core.scope import in_scope

_IN_SCOPE = in_scope()
# The money of a group of hops: the amount and currency of its latest hop that carries one.
LATEST_AMOUNT = "argMaxIf(Amount, StartTime, Amount IS NOT NULL)"
LATEST_CURRENCY = "toString(argMaxIf(Currency, StartTime, Amount IS NOT NULL))"


def _entity_amounts(by_legal_entity: bool) -> str:
    select = group = key = own_ids = ""
    ents = "Tuple(String, String)"
    if by_legal_entity:  # each entity's own correlation IDs: a hop of one under another one's ID is not read
        select, group, key = "toString(LegalEntity) AS legal_entity, ", "LegalEntity, ", "toString(LegalEntity), "
        own_ids = "\n    AND (toString(LegalEntity), CorrelationId) IN {le_ids:Array(Tuple(String, String))}"
        ents = "Tuple(String, String, String)"
    return f"""
SELECT {select}toString(EntityType) AS entity_type, EntityId AS entity_id,
    {LATEST_AMOUNT} AS amount, {LATEST_CURRENCY} AS currency
FROM hops
WHERE CorrelationId IN {{ids:Array(String)}}{own_ids}
    AND ({key}toString(EntityType), EntityId) IN {{ents:Array({ents})}} AND {_IN_SCOPE}
GROUP BY {group}EntityType, EntityId
LIMIT {{limit:UInt32}}
"""


# The amount and currency of each given entity: its latest hop with an amount, read by the
# exceptions' correlation IDs (the primary key of hops), in scope.
ENTITY_AMOUNTS = _entity_amounts(by_legal_entity=False)
# The same of the entities of several legal entities in one pass, each legal entity's read from
# its own hops and correlation IDs alone (as a caller scoped to it alone reads them).
ENTITY_AMOUNTS_BY_LEGAL_ENTITY = _entity_amounts(by_legal_entity=True)

# Amount of each given transaction: the amount of its latest hop that carries one, in scope;
# its business key (the first entity), and the system and region of its latest hop.
TRANSACTION_AMOUNTS = f"""
SELECT CorrelationId AS correlation_id,
    argMin(concat(toString(EntityType), ':', EntityId), StartTime) AS business_key,
    {LATEST_AMOUNT} AS amount, {LATEST_CURRENCY} AS currency,
    toString(argMax(System, StartTime)) AS system, toString(argMax(Region, StartTime)) AS region,
    toUnixTimestamp64Milli(max(EndTime)) AS last_ms
FROM hops
WHERE CorrelationId IN {{ids:Array(String)}} AND {_IN_SCOPE}
GROUP BY CorrelationId
LIMIT {{limit:UInt32}}
"""
