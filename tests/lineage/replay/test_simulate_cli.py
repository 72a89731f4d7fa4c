"""``ledgerline simulate --replay-port`` as ``make demo`` wires it: the simulator CLI runs as
a process of its own answering replays on loopback, the demo's replay targets
(``demo_targets``) point the ERP at it, and a replay sent there comes back as the retried hop
through the real collector, which confirms the replay."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from ledgerline.simulator.replay import demo_targets
from lineage.core.flows import load_flows
from lineage.replay.service import load as load_targets
from lineage.replay.settings import ReplaySettings
from tests.lineage.replay.conftest import Env

ROOT = Path(__file__).resolve().parents[3]


def _start(endpoint: str) -> tuple[subprocess.Popen[str], str]:
    """``ledgerline simulate`` with one live transaction and ``--replay-port 0``; its replay URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERLINE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ledgerline.cli",
            "simulate",
            "--endpoint",
            endpoint,
            "--count",
            "1",
            "--rate",
            "20",
            "--no-faults",
            "--seed",
            "5",
            "--replay-port",
            "0",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 60
    seen = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if match := re.match(r"simulate: answering replays at (http://127\.0\.0\.1:(\d+)/replay)$", line.strip()):
            assert int(match.group(2)) > 0  # port 0: a free port, named in the line
            return process, match.group(1)
    process.kill()
    raise AssertionError(f"simulate did not announce its replay endpoint; saw {seen}")


def test_simulate_replay_port_answers_a_demo_replay_and_its_hop_is_stored(env: Env) -> None:
    process, url = _start(env.emitter.endpoint)
    try:
        env.service.targets = load_targets(ReplaySettings(replay_targets=demo_targets(url)), load_flows().transient)
        exc_id = env.ids["C-ERP-1"]  # 500 EUR, erp_unavailable: under the demo's approval threshold
        replay = env.client.post(f"/api/v1/exceptions/{exc_id}/replay", json={"reason": "ERP back"}).json()
        assert replay["state"] == "approved", replay
        sent, confirmed = env.worker.run_once()
        assert sent == 1
        deadline = time.monotonic() + 20
        while not confirmed and time.monotonic() < deadline:  # simulate process -> collector -> store
            confirmed = env.worker.confirm()
            time.sleep(0.1)
        assert confirmed == 1
    finally:
        process.send_signal(signal.SIGINT)  # it keeps answering replays until Ctrl-C
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "simulate: done" in out + err
    doc = env.client.get(f"/api/v1/replays/{replay['id']}").json()
    assert doc["state"] == "confirmed"
    assert [h["state"] for h in doc["history"]] == ["approved", "sent", "delivered", "confirmed"]
    [(service, trace_id, key)] = env.store.query(
        "SELECT ServiceName, TraceId, IdempotencyKey FROM hops"
        " WHERE CorrelationId = 'C-ERP-1' AND Step = 'ledger.posted' AND Outcome = 'ok'"
    )
    assert service == "erp" and trace_id == replay["trace_id"]  # the ERP adapter's hop, in the replay's trace
    assert key == replay["id"]  # re-posted under the replay's Idempotency-Key
    assert env.client.get(f"/api/v1/exceptions/{exc_id}").json()["state"] == "resolved"
