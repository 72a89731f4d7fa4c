"""SQL of sealing, evidence packs and store verification. Every value is a bound parameter."""

from __future__ import annotations

from lineage.evidence.canonical import LEAF_HASH_SQL, RECORD_SQL

NOW_MS = "SELECT toUnixTimestamp64Milli(now64(3))"

LATEST_SEAL = """
SELECT Sequence, WindowStartMs, WindowEndMs, LeafCount, Root, PrevHash, SealHash,
    toUnixTimestamp64Milli(SealedAt) AS SealedAtMs, KeyFingerprint, Signature
FROM seals ORDER BY Sequence DESC LIMIT 1
"""

SEALS_FROM = """
SELECT Sequence, WindowStartMs, WindowEndMs, LeafCount, Root, PrevHash, SealHash,
    toUnixTimestamp64Milli(SealedAt) AS SealedAtMs, KeyFingerprint, Signature
FROM seals WHERE Sequence >= {first:UInt64} ORDER BY Sequence
"""

FIRST_SEAL_SINCE = "SELECT min(Sequence) FROM seals WHERE WindowEndMs >= {since_ms:Int64}"

ORPHAN_LEAVES = "SELECT count() FROM seal_leaves WHERE Sequence > {last:UInt64}"
DELETE_ORPHANS = (
    "ALTER TABLE seal_leaves DELETE WHERE Sequence > {last:UInt64} SETTINGS mutations_sync = 2",
    "ALTER TABLE sealed_spans DELETE WHERE Sequence > {last:UInt64} SETTINGS mutations_sync = 2",
)

# The hops of a window not sealed before, one row per span (the latest delivery, as
# ReplacingMergeTree keeps it), numbered in (TraceId, SpanId) order, with their leaf hashes
# computed here. Spans already sealed are excluded by a primary-key lookup in sealed_spans.
_WINDOW = (
    "IngestedAt > fromUnixTimestamp64Milli({from_ms:Int64}) AND IngestedAt <= fromUnixTimestamp64Milli({to_ms:Int64})"
)
INSERT_LEAVES = f"""
INSERT INTO seal_leaves (Sequence, LeafIndex, TraceId, SpanId, CorrelationId, LeafHash, SealedAt)
SELECT {{seq:UInt64}}, toUInt64(row_number() OVER (ORDER BY TraceId, SpanId) - 1),
    TraceId, SpanId, CorrelationId, LeafHash, fromUnixTimestamp64Milli({{sealed_ms:Int64}})
FROM (
    SELECT TraceId, SpanId, CorrelationId, {LEAF_HASH_SQL} AS LeafHash
    FROM hops
    WHERE {_WINDOW}
      AND (TraceId, SpanId) NOT IN (
        SELECT TraceId, SpanId FROM sealed_spans
        WHERE TraceId IN (SELECT TraceId FROM hops WHERE {_WINDOW}))
    ORDER BY TraceId, SpanId, IngestedAt DESC
    LIMIT 1 BY TraceId, SpanId
)
"""

LEAF_HASHES = "SELECT LeafHash FROM seal_leaves WHERE Sequence = {seq:UInt64} ORDER BY LeafIndex"

INSERT_SEAL = """
INSERT INTO seals (Sequence, WindowStartMs, WindowEndMs, LeafCount, Root, PrevHash, SealHash, SealedAt,
    KeyFingerprint, Signature)
VALUES ({seq:UInt64}, {start_ms:Int64}, {end_ms:Int64}, {count:UInt64}, {root:String}, {prev:String},
    {hash:String}, fromUnixTimestamp64Milli({sealed_ms:Int64}), {fp:String}, {sig:String})
"""

# -- seal key rotations (lineage/evidence/rotation.py) -------------------------------------
TABLE_EXISTS = "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = {name:String}"
ROTATIONS = """
SELECT Rotation, AfterSequence, SealHash, PrevHash, OldKey, NewKey,
    toUnixTimestamp64Milli(RotatedAt) AS RotatedAtMs, OldSignature, NewSignature
FROM seal_rotations ORDER BY Rotation
"""
INSERT_ROTATION = """
INSERT INTO seal_rotations (Rotation, AfterSequence, SealHash, PrevHash, OldKey, NewKey, RotatedAt, RotationHash,
    OldSignature, NewSignature)
VALUES ({rotation:UInt64}, {after:UInt64}, {seal_hash:String}, {prev:String}, {old_key:String}, {new_key:String},
    fromUnixTimestamp64Milli({at_ms:Int64}), {hash:String}, {old_sig:String}, {new_sig:String})
"""
# Seals whose stored hash is one of the anchors an operator kept (verify --store --anchor).
LATEST_SEQUENCE = "SELECT max(Sequence) FROM seals"
ANCHORED_SEALS = "SELECT SealHash, min(Sequence) FROM seals WHERE SealHash IN {hashes:Array(String)} GROUP BY SealHash"

# -- evidence packs ----------------------------------------------------------------------------
HOP_RECORDS = f"""
SELECT {RECORD_SQL}
FROM hops WHERE CorrelationId = {{cid:String}}
ORDER BY TraceId, SpanId, IngestedAt DESC
LIMIT 1 BY TraceId, SpanId
"""

# Successful child hops in other transactions whose parent is one of this one's entities:
# they complete its stages (lineage.core.derive.adopt), so the pack proves them too.
ADOPTED_RECORDS = f"""
SELECT {RECORD_SQL}
FROM hops
WHERE Outcome = 'ok' AND CorrelationId != {{cid:String}}
  AND hasAny(arrayMap(p -> (toString(ParentType), p), ParentIds), {{ents:Array(Tuple(String, String))}})
ORDER BY TraceId, SpanId, IngestedAt DESC
LIMIT 1 BY TraceId, SpanId
LIMIT 10000
"""

SEALED_AT = """
SELECT TraceId, SpanId, Sequence, LeafIndex FROM sealed_spans
WHERE (TraceId, SpanId) IN {spans:Array(Tuple(String, String))}
"""

INSERT_EXPORT = """
INSERT INTO evidence_exports (At, Actor, Role, CorrelationId, Hops, Seals, LatestSeal)
VALUES (now64(3), {actor:String}, {role:String}, {cid:String}, {hops:UInt32}, {seals:UInt32}, {latest:UInt64})
"""

SEAL_STATUS = """
SELECT count() AS hops, countIf(s.Sequence IS NOT NULL) AS sealed
FROM (SELECT DISTINCT TraceId, SpanId FROM hops WHERE CorrelationId = {cid:String}) AS h
LEFT JOIN (SELECT TraceId, SpanId, toNullable(Sequence) AS Sequence FROM sealed_spans) AS s
    ON h.TraceId = s.TraceId AND h.SpanId = s.SpanId
"""

# -- store verification ------------------------------------------------------------------------
# Each leaf of a range of seals against the hop stored now: recomputed hash (NULL: hop
# gone). Hops are read from the range's first window on (minus the margin), by span; a span
# stored more than once is the copy ingested last. One GROUP BY by span over the leaves and
# the hops together, not a join of the two (1M leaves: 2.6 s against 5.3 s), one row per leaf.
RECOMPUTE_SEALS = f"""
SELECT leaf.1 AS Sequence, leaf.2 AS LeafIndex, TraceId, SpanId, leaf.3 AS LeafHash, Now FROM (
    SELECT TraceId, SpanId, groupArrayIf((Sequence, LeafIndex, Hash), side = 0) AS leaves,
        if(countIf(side = 1) > 0, argMaxIf(Hash, At, side = 1), NULL) AS Now
    FROM (
        SELECT 0 AS side, Sequence, LeafIndex, TraceId, SpanId, LeafHash AS Hash, toDateTime64(0, 9) AS At
        FROM seal_leaves WHERE Sequence BETWEEN {{lo:UInt64}} AND {{hi:UInt64}}
        UNION ALL
        SELECT 1, 0, 0, TraceId, SpanId, {LEAF_HASH_SQL}, IngestedAt FROM hops
        WHERE IngestedAt > fromUnixTimestamp64Milli({{from_ms:Int64}})
            AND (TraceId, SpanId) IN (
                SELECT TraceId, SpanId FROM seal_leaves WHERE Sequence BETWEEN {{lo:UInt64}} AND {{hi:UInt64}})
    )
    GROUP BY TraceId, SpanId
    HAVING notEmpty(leaves)
) ARRAY JOIN leaves AS leaf
ORDER BY Sequence, LeafIndex
"""

# Hops that arrived inside a sealed window (before its cutoff minus the margin, so not in
# flight) yet are in no seal: inserted behind the sealer's back.
UNSEALED_IN_SEALED = """
SELECT TraceId, SpanId, CorrelationId, toUnixTimestamp64Milli(IngestedAt) AS at_ms
FROM hops
WHERE IngestedAt <= fromUnixTimestamp64Milli({before_ms:Int64})
  AND IngestedAt > fromUnixTimestamp64Milli({since_ms:Int64})
  AND (TraceId, SpanId) NOT IN (SELECT TraceId, SpanId FROM sealed_spans)
ORDER BY IngestedAt
LIMIT 10
"""
