"""The README documents every setting and both set-up commands."""

from __future__ import annotations

from pathlib import Path

from alerts.settings import AlertSettings
from collector.settings import CollectorSettings
from lineage.evidence.settings import EvidenceSettings
from lineage.settings import LineageSettings

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [
        f"LEDGERLINE_{name.upper()}"
        for settings in (CollectorSettings, LineageSettings, AlertSettings, EvidenceSettings)
        for name in settings.model_fields
        if f"`LEDGERLINE_{name.upper()}`" not in README
    ]
    assert missing == []


def test_readme_gives_the_two_setup_commands() -> None:
    assert "make demo" in README and "make test" in README
