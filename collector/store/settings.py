"""Where the store lives and how far a query may go; shared by every component's settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class StoreSettings(BaseSettings):
    """Where the store lives and how far a query may go. Shared by every service."""

    model_config = SettingsConfigDict(env_prefix="LEDGERLINE_", env_ignore_empty=True, extra="ignore")

    data_dir: Path = Field(Path(".ledgerline"), description="Data directory of the embedded store.")
    clickhouse_url: str | None = Field(
        None,
        description="Store DSN: chdb:///path (embedded) or http(s)://user:pass@host:8123. "
        "Default: chdb://<data_dir>/clickhouse.",
    )
    clickhouse_database: str = Field("ledgerline", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    clickhouse_cluster: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="ClickHouse cluster name: migrations run ON CLUSTER with Replicated and Distributed tables.",
    )
    lease_ttl_s: float = Field(
        30.0, ge=3, description="How long the alert evaluator's and the sealer's leases last without renewal."
    )
    query_timeout_s: float = Field(10.0, gt=0, description="Time limit of one read query.")
    query_max_rows: int = Field(10_000, gt=0, description="Row limit of one listing query.")

    @property
    def dsn(self) -> str:
        """The store DSN, with the embedded default filled in."""
        if self.clickhouse_url:
            return self.clickhouse_url
        return f"chdb://{(self.data_dir / 'clickhouse').resolve()}"
