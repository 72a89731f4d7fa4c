"""Settings of the dashboard, read from ``LEDGERLINE_*`` variables (pydantic-settings).

Flows and systems are not settings: the dashboard asks the API (``GET /api/v1/flows``,
``GET /api/v1/systems``), so the pickers follow the flows file and the estate.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_API_URL = "http://127.0.0.1:8000"
DEFAULT_PORT = 8501


class DashboardSettings(BaseSettings):
    """Where the API is, which credential to send, and how long answers are cached."""

    model_config = SettingsConfigDict(env_prefix="LEDGERLINE_", env_ignore_empty=True, extra="ignore")

    api_url: str = Field(DEFAULT_API_URL, description="Base URL of the lineage API.")
    dashboard_port: int = Field(
        DEFAULT_PORT, ge=0, le=65535, description="Port `ledgerline dashboard` and `ledgerline demo` serve it on."
    )
    dashboard_token: str = Field("", description="The dashboard's service credential (an API token).")
    dashboard_forwarded_token_header: str = Field(
        "", description="Request header carrying the signed-in person's access token (behind an OIDC proxy)."
    )
    posting_sla_ms: int = Field(
        4 * 3_600_000, gt=0, description="Posting SLA line when the flows API does not give one."
    )
    dashboard_cache_ttl_s: float = Field(20.0, ge=0, description="How long API answers are cached per caller.")
