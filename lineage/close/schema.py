"""Close tables (migration versions 180-189). ``close_signoffs`` is append-only: one row per
preparation and per review (with the signed certificate); a round is one preparation and its
review, and a new round starts after a decertification."""

from __future__ import annotations

from collector.store import Migration
from lineage.schema import HOP_TIMES_COLUMNS, HOPS_SELECT

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

# The hops behind each certificate (its seal leaves), so `verify --store` can name the hops added
# or removed since sign-off, not only say that the root differs.
_CERTIFIED = """
CREATE TABLE IF NOT EXISTS close_certified_hops (
    LegalEntity LowCardinality(String),
    Period String,
    Round UInt32,
    TraceId String,
    SpanId String,
    LeafHash FixedString(32)
) ENGINE = MergeTree
ORDER BY (LegalEntity, Period, Round, TraceId, SpanId)
"""

# Version 182: the business date a system sends (``biz.posting_date``, ``biz.period``), raw, on
# hops and hop_times: the gate validates it when it reads it (lineage/close/bizdate.py), so a
# malformed value is kept and named, never dropped at ingest. hops_mv and hop_times_mv are
# recreated with the two columns; stored spans that carry either attribute are derived again
# (the new hops rows win by IngestedAt; hop_times readers use FINAL).
_BIZ_DATE = (
    "    SpanAttributes['biz.posting_date'] AS PostingDate,\n"
    "    SpanAttributes['biz.period'] AS BizPeriod\nFROM otel_traces"
)
_HOPS_SELECT_V9 = HOPS_SELECT.replace(" AS Compensates\nFROM otel_traces", f" AS Compensates,\n{_BIZ_DATE}")
_REDATE = _HOPS_SELECT_V9 + "    AND (SpanAttributes['biz.posting_date'] != '' OR SpanAttributes['biz.period'] != '')\n"
_HOP_TIMES_COLS_V9 = f"{HOP_TIMES_COLUMNS}, PostingDate, BizPeriod"
_DATE_COLUMNS = "ADD COLUMN IF NOT EXISTS PostingDate String, ADD COLUMN IF NOT EXISTS BizPeriod String"
_BUSINESS_DATE = (
    f"ALTER TABLE hops {_DATE_COLUMNS}",
    f"ALTER TABLE hop_times {_DATE_COLUMNS}",
    "DROP VIEW IF EXISTS hop_times_mv",
    f"CREATE MATERIALIZED VIEW IF NOT EXISTS hop_times_mv TO hop_times AS SELECT {_HOP_TIMES_COLS_V9} FROM hops",
    "DROP VIEW IF EXISTS hops_mv",
    f"CREATE MATERIALIZED VIEW IF NOT EXISTS hops_mv TO hops AS {_HOPS_SELECT_V9}",
    f"INSERT INTO hops {_REDATE}",
    f"INSERT INTO hop_times ({_HOP_TIMES_COLS_V9}) "
    f"SELECT {_HOP_TIMES_COLS_V9} FROM hops FINAL WHERE PostingDate != '' OR BizPeriod != ''",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(180, "close: sign-offs and certificates", (_SIGNOFFS,)),
    Migration(181, "close: the hops behind each certificate", (_CERTIFIED,)),
    Migration(182, "close: business dates on hops (biz.posting_date, biz.period)", _BUSINESS_DATE),
)
