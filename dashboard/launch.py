"""How to start and stop the dashboard: the ``streamlit run`` command line, and its child process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dashboard.settings import DEFAULT_PORT

APP = Path(__file__).with_name("app.py")


def command(api_url: str, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> list[str]:
    """``streamlit run`` argv (through dashboard/serve.py) serving the dashboard headless on
    ``host:port`` against ``api_url``."""
    return [
        sys.executable,
        "-m",
        "dashboard.serve",  # streamlit's own command line, with the drawing libraries preloaded
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


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop a streamlit child (SIGTERM, then SIGKILL after ``timeout``) and reap it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()
