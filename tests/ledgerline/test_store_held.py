"""A second process on the embedded store while ``serve`` holds it: one line naming the holder
and what to do, none of chdb's lock errors (issue 28)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.processes import LEDGERLINE, Command, ledgerline_env

pytestmark = pytest.mark.timeout(180)


def test_commands_that_open_the_store_name_the_serve_holding_it(tmp_path: Path) -> None:
    serve = Command("serve", "--http-port", "0", "--grpc-port", "0", "--api-port", "0", env=ledgerline_env(tmp_path))
    try:
        serve.wait_for("Ctrl-C to stop")
        held = (
            f"the embedded store at {(tmp_path / 'clickhouse').resolve()} is held by process {serve.process.pid} "
            "(ledgerline serve): stop it first, or use the API with --api/--token"
        )
        for command in (["token", "list"], ["verify", "--store"], ["seal", "--store"]):
            result = subprocess.run(
                [*LEDGERLINE, *command], env=ledgerline_env(tmp_path), capture_output=True, text=True, timeout=60
            )
            assert result.returncode == 2, command
            # exactly one line: before it, chdb printed "Code: 76. DB::Exception: Cannot lock file ..."
            assert result.stderr.splitlines() in (
                [f"ledgerline: error: {held}"],
                [f"ledgerline {command[0]}: {held}"],
            ), result.stderr
        serve.signal(signal.SIGTERM)
        assert serve.exit_code(30) == 0
    finally:
        serve.kill()
    # Once serve has stopped, the same command opens the store itself.
    listed = subprocess.run(
        [*LEDGERLINE, "token", "list"], env=ledgerline_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0 and listed.stderr == ""
