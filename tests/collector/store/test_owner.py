"""Who holds an embedded store: read from the engine's locked status file, never guessed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from collector.store.owner import held_message, holder

# Locks <dir>/status as the chdb engine does (flock, exclusive) and writes its PID into it.
HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, f"PID: {os.getpid()}\\nStarted at: now\\n".encode())
print("locked", flush=True)
time.sleep(120)
"""


def test_the_process_holding_the_lock_is_named_and_a_killed_one_is_not(tmp_path: Path) -> None:
    assert holder(tmp_path) is None  # never opened
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "status")], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "locked\n"
        assert holder(tmp_path) == child.pid
        message = held_message(tmp_path, child.pid)
        assert message.startswith(f"the embedded store at {tmp_path} is held by process {child.pid} (python")
        assert message.endswith(": stop it first, or use the API with --api/--token")
    finally:
        child.kill()
        child.wait()
    # The status file a killed process leaves behind is not locked: nobody holds the store.
    assert (tmp_path / "status").exists() and holder(tmp_path) is None


def test_this_process_own_engine_is_no_holder(tmp_path: Path) -> None:
    (tmp_path / "status").write_text(f"PID: {os.getpid()}\n")
    assert holder(tmp_path) is None
