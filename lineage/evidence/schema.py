"""Schema of tamper evidence (migration versions 160-169): seals, their leaves, exports, key rotations."""

from __future__ import annotations

from collector.store import Migration

# Append-only: one signed tree head per seal, hashes and signature as hex.
_SEALS = """
CREATE TABLE IF NOT EXISTS seals (
    Sequence UInt64,
    WindowStartMs Int64,
    WindowEndMs Int64,
    LeafCount UInt64,
    Root String,
    PrevHash String,
    SealHash String,
    SealedAt DateTime64(3),
    KeyFingerprint String,
    Signature String
) ENGINE = MergeTree
ORDER BY Sequence
"""

# The leaves of each seal in tree order: proofs read one seal's leaf hashes by range.
_SEAL_LEAVES = """
CREATE TABLE IF NOT EXISTS seal_leaves (
    Sequence UInt64,
    LeafIndex UInt64,
    TraceId String,
    SpanId String,
    CorrelationId String,
    LeafHash FixedString(32),
    SealedAt DateTime64(3)
) ENGINE = MergeTree
ORDER BY (Sequence, LeafIndex)
"""

# The same leaves keyed by span: "is this span sealed, where?" is a primary-key seek, and
# sealing excludes already sealed spans (so a duplicate delivery is never a second leaf).
_SEALED_SPANS = """
CREATE TABLE IF NOT EXISTS sealed_spans (
    TraceId String,
    SpanId String,
    Sequence UInt64,
    LeafIndex UInt64,
    SealedAt DateTime64(3)
) ENGINE = MergeTree
ORDER BY (TraceId, SpanId)
"""
_SEALED_SPANS_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS sealed_spans_mv TO sealed_spans AS
SELECT TraceId, SpanId, Sequence, LeafIndex, SealedAt FROM seal_leaves
"""

# Who exported which transaction's evidence, when (the access log of exports).
_EXPORTS = """
CREATE TABLE IF NOT EXISTS evidence_exports (
    At DateTime64(3),
    Actor String,
    Role LowCardinality(String),
    CorrelationId String,
    Hops UInt32,
    Seals UInt32,
    LatestSeal UInt64
) ENGINE = MergeTree
ORDER BY (At, CorrelationId)
"""

# Append-only: one record per seal key rotation (lineage/evidence/rotation.py), keys raw and
# hashes and signatures as hex. No TTL: a handful of rows that every later seal depends on.
_ROTATIONS = """
CREATE TABLE IF NOT EXISTS seal_rotations (
    Rotation UInt64,
    AfterSequence UInt64,
    SealHash String,
    PrevHash String,
    OldKey String,
    NewKey String,
    RotatedAt DateTime64(3),
    RotationHash String,
    OldSignature String,
    NewSignature String
) ENGINE = MergeTree
ORDER BY Rotation
"""

# Sealing scans hops by arrival time; hops is ordered by correlation ID.
_HOPS_INGESTED_INDEX = "ALTER TABLE hops ADD INDEX IF NOT EXISTS idx_ingested IngestedAt TYPE minmax GRANULARITY 1"

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        160,
        "evidence: seals, seal leaves by seal and by span, export log",
        (_SEALS, _SEAL_LEAVES, _SEALED_SPANS, _SEALED_SPANS_MV, _EXPORTS),
    ),
    Migration(161, "evidence: hops skip index on IngestedAt", (_HOPS_INGESTED_INDEX,)),
    Migration(162, "evidence: seal key rotation records", (_ROTATIONS,)),
)
