"""Which process holds an embedded store, asked before opening it.

The chdb engine takes an exclusive ``flock`` on ``<path>/status`` (which names its PID) and
keeps it while open. A second process that tries to open the path gets C++ errors printed
straight to its stderr, which Python cannot catch; so the store looks first and, when the
lock is held, says who holds it in one line instead. A status file left by a killed process
is not locked, so it is ignored.
"""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path

_PID = re.compile(r"^PID: (\d+)$", re.MULTILINE)


def holder(path: Path) -> int | None:
    """The PID of another process holding the engine at ``path``; None when it is free or ours."""
    status = path / "status"
    try:
        match = _PID.search(status.read_text())
    except (OSError, UnicodeDecodeError):
        return None  # never opened, or closed cleanly (the engine removes the file)
    if match is None or int(match.group(1)) == os.getpid():
        return None  # this process's own engine: more handles on it are fine
    try:
        fd = os.open(status, os.O_RDONLY)
    except OSError:
        return None
    try:  # a shared probe, released at once: it fails only while the engine holds the lock
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return int(match.group(1))
    finally:
        os.close(fd)  # closing releases the probe's lock
    return None


def command_of(pid: int) -> str:
    """What ``pid`` runs, e.g. ``ledgerline serve`` (empty when it cannot be read)."""
    try:
        argv = [a for a in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0") if a]
    except OSError:
        return ""
    for i, arg in enumerate(argv):
        if Path(arg).name == "ledgerline" or arg == "ledgerline.cli":
            sub = next((a for a in argv[i + 1 :] if not a.startswith("-")), "")
            return f"ledgerline {sub}".strip()
    return Path(argv[0]).name if argv else ""


def held_message(path: Path, pid: int) -> str:
    """The one line a second process prints."""
    command = command_of(pid)
    who = f"process {pid} ({command})" if command else f"process {pid}"
    return f"the embedded store at {path} is held by {who}: stop it first, or use the API with --api/--token"
