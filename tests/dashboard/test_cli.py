"""``ledgerline dashboard`` as an operator runs it: a signal to the command stops Streamlit too,
so the port is free for the next start (issue 28: after SIGTERM Streamlit kept running)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.processes import Command, free_port, ledgerline_env, port_free, wait_http

pytestmark = pytest.mark.timeout(180)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_streamlit_and_frees_the_port(tmp_path: Path, sig: int) -> None:
    port = free_port()
    api = f"http://127.0.0.1:{free_port()}"  # nothing answers there: the dashboard serves anyway
    dashboard = Command("dashboard", "--port", str(port), "--api-url", api, env=ledgerline_env(tmp_path))
    try:
        wait_http(f"http://127.0.0.1:{port}/_stcore/health")
        dashboard.signal(sig)
        assert dashboard.exit_code(30) == 0
        assert port_free(port)
        assert dashboard.leftovers() == []
    finally:
        dashboard.kill()
