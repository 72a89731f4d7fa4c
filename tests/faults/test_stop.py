"""SIGTERM right after ``ledgerline serve`` starts ends it promptly, ports released, and still
every acknowledged span is committed and sealed (issue 28: it took 10.8 s, waiting for the
first alert round, with every port held meanwhile).

The alert round is made slow with rules whose queries sleep, as a round over a large store
is; the bound is generous (the round alone takes 11.6 s), the figures are in bench/faults.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.faults import ROOT, Loader, ServeProcess, port_free, slow_rules, stored_span_ids
from tests.processes import ledgerline_env

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]


def test_sigterm_during_the_first_alert_round_stops_promptly_and_seals_everything(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(slow_rules(4))
    data = tmp_path / "data"
    server = ServeProcess(data, LEDGERLINE_ALERT_RULES=str(rules))
    loader = Loader(server.endpoint, senders=2, batch=20).start()
    time.sleep(0.5)
    loader.stop()
    seconds = server.stop()  # while the first alert round runs
    assert seconds < 8
    assert [port for port in server.ports() if not port_free(port)] == []
    assert loader.acked and loader.acked <= stored_span_ids(data).ids
    verified = subprocess.run(
        [sys.executable, "-m", "ledgerline.cli", "verify", "--store"],
        env=ledgerline_env(data),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert verified.returncode == 0, verified.stderr
    # The final seal covers every hop: each acknowledged span is one.
    hops = re.search(r"(\d+) hops recomputed", verified.stdout)
    assert hops and int(hops.group(1)) == len(loader.acked)
