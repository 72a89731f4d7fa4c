"""Settings of the alert evaluator, read from ``LEDGERLINE_*`` variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from collector.settings import StoreSettings


class AlertSettings(StoreSettings):
    """Rules, receivers, dashboard links and delivery tuning."""

    alert_rules: Path | None = Field(None, description="Rule file; default: the packaged alerts/rules.yaml.")
    alert_receivers: str | None = Field(None, description="Receivers config: a file path or inline YAML.")
    dashboard_url: str = Field("http://127.0.0.1:8501", description="Dashboard base URL for links.")
    api_url: str = Field("http://127.0.0.1:8000", description="Lineage API base URL for evidence links in tickets.")
    alert_tick_s: float = Field(10.0, gt=0, description="How often due rules and notifications are checked.")
    alert_resolved_retention_s: float = Field(900.0, ge=0, description="How long resolves are kept and re-sent.")
    alert_delivery_attempts: int = Field(3, ge=1)
    alert_delivery_backoff_s: float = Field(1.0, ge=0)
    alert_delivery_timeout_s: float = Field(5.0, gt=0)
