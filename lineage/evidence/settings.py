"""Settings of sealing and retention, read from ``LEDGERLINE_*`` variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from collector.settings import StoreSettings


class EvidenceSettings(StoreSettings):
    """The seal key and cadence, and the retention tiers."""

    seal_key: Path | None = Field(
        None, description="Ed25519 private key (PEM, mode 0600); default: <data dir>/seal.key, created on first start."
    )
    seal_interval_s: float = Field(60.0, gt=0, description="How often serve seals the hops stored since the last seal.")
    seal_margin_s: float = Field(
        120.0, ge=0, description="How far before the last seal's cutoff a seal looks for hops committed late."
    )
    retention_raw_days: int = Field(30, ge=1, description="Days raw spans (otel_traces) are kept.")
    retention_lineage_days: int = Field(
        7 * 365 + 2, ge=1, description="Days the lineage tier (hops, edges, keys, links, history, seals) is kept."
    )
