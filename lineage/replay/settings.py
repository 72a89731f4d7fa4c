"""Settings of replay delivery, read from ``LEDGERLINE_REPLAY_*`` variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ReplaySettings(BaseSettings):
    """Targets, retries and pacing of replay delivery."""

    model_config = SettingsConfigDict(env_prefix="LEDGERLINE_", env_ignore_empty=True, extra="ignore")

    replay_targets: str | None = Field(
        None, description="Replay targets: a YAML file path or the YAML itself; unset: every replay is refused."
    )
    replay_max_attempts: int = Field(5, ge=1, le=100, description="Delivery attempts before a replay fails.")
    replay_backoff_s: float = Field(2.0, gt=0, description="Delay after the first failed attempt; doubles each time.")
    replay_backoff_max_s: float = Field(300.0, gt=0, description="Longest delay between two attempts.")
    replay_timeout_s: float = Field(10.0, gt=0, le=120, description="HTTP timeout of one delivery attempt.")
    replay_poll_s: float = Field(1.0, gt=0, description="How often the worker looks for due and confirmed replays.")
    replay_bulk_max: int = Field(1000, ge=1, le=10_000, description="Exceptions one bulk replay may cover.")
