"""The README documents every setting and both set-up commands."""

from __future__ import annotations

from pathlib import Path

from alerts.settings import AlertSettings
from collector.settings import CollectorSettings
from dashboard.settings import DashboardSettings
from lineage.auth.settings import AuthSettings
from lineage.evidence.settings import EvidenceSettings
from lineage.replay.settings import ReplaySettings
from lineage.settings import LineageSettings

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [
        f"LEDGERLINE_{name.upper()}"
        for settings in (
            CollectorSettings,
            LineageSettings,
            AlertSettings,
            AuthSettings,
            ReplaySettings,
            EvidenceSettings,
            DashboardSettings,
        )
        for name in settings.model_fields
        if f"`LEDGERLINE_{name.upper()}`" not in README
    ]
    assert missing == []


def test_client_credentials_are_documented() -> None:
    for name in ("LEDGERLINE_API_TOKEN", "LEDGERLINE_DASHBOARD_TOKEN", "LEDGERLINE_DASHBOARD_FORWARDED_TOKEN_HEADER"):
        assert f"`{name}`" in README


def test_readme_gives_the_two_setup_commands() -> None:
    assert "make demo" in README and "make test" in README
