"""Long-running ``ledgerline`` commands as an operator runs them: started in a session of their
own, signalled (the process alone, as ``kill PID`` or a container stop does), and checked for
what they leave behind: a port still listening, a child process still running."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import httpx

from bench.faults import port_free

__all__ = ["LEDGERLINE", "Command", "free_port", "ledgerline_env", "port_free", "wait_http"]

LEDGERLINE = [sys.executable, "-m", "ledgerline.cli"]


def ledgerline_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment without the developer's LEDGERLINE_* settings, on ``data_dir``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERLINE_")}
    return env | {"LEDGERLINE_DATA_DIR": str(data_dir), **extra}


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stat(pid: str) -> tuple[str, int] | None:
    """(state, session id) of a process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[3])


class Command:
    """``ledgerline ARGS`` in a new session; its output lines collected as they come."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [*LEDGERLINE, *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its descendants share the session id: found below
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        assert self.process.stdout is not None and self.process.stderr is not None
        for stream, seen in ((self.process.stdout, self.stdout), (self.process.stderr, self.stderr)):
            threading.Thread(target=self._read, args=(stream, seen), daemon=True).start()

    def _read(self, stream: IO[str], seen: list[str]) -> None:
        for line in stream:
            seen.append(line)
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 90) -> str:
        """The first output line (stdout or stderr) containing ``text``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no {text!r} in {timeout} s; stdout {self.stdout}, stderr {self.stderr}"
                ) from None
            if text in line:
                return line

    def ports(self) -> set[int]:
        """The loopback ports its output names."""
        return {int(port) for line in self.stdout + self.stderr for port in re.findall(r"127\.0\.0\.1:(\d+)", line)}

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the command's own process only."""
        os.kill(self.process.pid, sig)

    def exit_code(self, timeout: float) -> int:
        """Its exit code; fails (killing the session) when it has not exited within ``timeout``."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"still running {timeout} s after the signal") from None

    def leftovers(self) -> list[str]:
        """Processes of its session still alive (zombies hold nothing and are left out)."""
        alive = []
        for entry in filter(str.isdigit, os.listdir("/proc")):
            stat = _stat(entry)
            if stat is not None and stat[1] == self.process.pid and stat[0] != "Z":
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                alive.append(f"{entry}: {cmdline[:120]}")
        return alive

    def kill(self) -> None:
        """SIGKILL the whole session (test cleanup)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)


def wait_http(url: str, timeout: float = 90) -> None:
    """Until ``url`` answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer 200 in {timeout} s")
