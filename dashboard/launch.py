"""How to start the dashboard: the ``streamlit run`` command line."""

from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).with_name("app.py")


def command(api_url: str, host: str = "127.0.0.1", port: int = 8501) -> list[str]:
    """``streamlit run`` argv serving the dashboard headless on ``host:port`` against ``api_url``."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.headless",
        "true",
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        "--client.showErrorDetails",
        "false",
        "--client.toolbarMode",
        "minimal",
        "--server.fileWatcherType",
        "none",
        "--theme.base",
        "light",
        "--",
        "--api-url",
        api_url,
    ]
