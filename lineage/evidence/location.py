"""Where the evidence commands' settings point: the embedded store's directory, and the refusal
to create one where there is none (a read from a typo'd directory must not answer "all clear")."""

from __future__ import annotations

from pathlib import Path

from collector.store.errors import ConfigError
from lineage.evidence.settings import EvidenceSettings


def embedded_path(settings: EvidenceSettings) -> Path | None:
    """The embedded store's directory; None for a ClickHouse server."""
    dsn = settings.dsn
    return Path(dsn.removeprefix("chdb://").split("?", 1)[0]) if dsn.startswith("chdb:") else None


def existing_store(settings: EvidenceSettings, flag: str = "--store") -> None:
    """Refuse to create an embedded store where there is none (a typo'd directory, another cwd)."""
    path = embedded_path(settings)
    if path is not None and not path.is_dir():
        raise ConfigError(
            f"no store at {path}: run where serve keeps its data or set LEDGERLINE_DATA_DIR "
            f"(or LEDGERLINE_CLICKHOUSE_URL); {flag} never creates one"
        )
