"""Close tables (migration versions 180-189). ``close_signoffs`` is append-only: one row per
preparation and per review (with the signed certificate); a round is one preparation and its
review, and a new round starts after a decertification."""

from __future__ import annotations

from collector.store import Migration

_SIGNOFFS = """
CREATE TABLE IF NOT EXISTS close_signoffs (
    LegalEntity LowCardinality(String),
    Period String,
    Round UInt32,
    Action LowCardinality(String),
    Subject String,
    At DateTime64(3),
    Figures String,
    Certificate String
) ENGINE = MergeTree
ORDER BY (LegalEntity, Period, Round, At)
"""

MIGRATIONS: tuple[Migration, ...] = (Migration(180, "close: sign-offs and certificates", (_SIGNOFFS,)),)
