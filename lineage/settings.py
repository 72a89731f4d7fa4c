"""Settings of the lineage service, read from ``LEDGERLINE_*`` variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from collector.settings import StoreSettings
from lineage.core.timeparse import parse_seconds


class LineageSettings(StoreSettings):
    """Flow definitions, the API bind and the limits of stitching and listings."""

    flows: Path | None = Field(
        None, description="Flow definitions YAML (LEDGERLINE_FLOWS); default: the packaged lineage/core/flows.yaml."
    )
    close: str | None = Field(
        None,
        description="Close calendar (LEDGERLINE_CLOSE): a YAML path or inline YAML; default: the packaged "
        "lineage/close/close.yaml.",
    )
    api_port: int = Field(8000, ge=0, le=65535)
    stitch_depth: int = Field(2, ge=0, le=5, description="Correlation IDs followed away from the one asked.")
    stitch_fanout: int = Field(50, ge=1, le=1000, description="Related correlation IDs kept per level.")
    max_hops: int = Field(2000, ge=1, description="Hops returned for one transaction at most.")
    max_edges: int = Field(500, ge=1, description="Entity edges returned for one transaction at most.")
    default_window: str = Field("7d", description="Time window of listings when no 'since' is given.")
    max_buckets: int = Field(2000, ge=1, description="Time buckets one metrics query may return.")
    business_metrics_window: str = Field(
        "24h", description="Trailing window of the gauges of GET /metrics/business, and where its counters start."
    )
    business_metrics_lag: str = Field(
        "1m",
        description="GET /metrics/business counts hops that ended this long ago or more (late arrivals); a hop "
        "stored more than this after its bucket ended counts in the metrics series' late.",
    )
    business_metrics_max_series: int = Field(
        5000, ge=1, description="Label sets GET /metrics/business holds per scope; more are dropped and counted."
    )
    business_metrics_max_rows: int = Field(
        100_000,
        ge=1,
        description="Transactions and open exceptions one GET /metrics/business refresh reads for its stuck, failed "
        "and breached gauges (a background read, so above LEDGERLINE_QUERY_MAX_ROWS); past it the gauges "
        "undercount and ledgerline_business_truncated is 1.",
    )
    business_metrics_refresh: str = Field(
        "30s",
        description="GET /metrics/business answers from a snapshot; one older than this is recomputed in the "
        "background (0s: every scrape computes and waits).",
    )

    @field_validator("business_metrics_window", "business_metrics_lag", "business_metrics_refresh")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_seconds(value)  # a ValueError naming the problem
        return value
