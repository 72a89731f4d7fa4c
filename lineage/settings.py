"""Settings of the lineage service, read from ``LEDGERLINE_*`` variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from collector.settings import StoreSettings


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
