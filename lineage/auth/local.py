"""Work done on the store without the API (``ledgerline token`` on the store, the demo's own
token) is written to the access log like an API call, at once."""

from __future__ import annotations

import getpass
import os
import socket

from collector.store import Store
from collector.store.errors import StoreError
from lineage.auth.audit import AccessEntry, AccessLog
from lineage.auth.principal import normalise_subject
from lineage.auth.targets import TargetResolver
from lineage.core.timeparse import utcnow


def local_actor() -> str:
    """Who runs a command on the store itself: the operating-system user and host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = f"uid{os.getuid()}"
    return normalise_subject(f"{user}@{socket.gethostname()}")


def record_local(store: Store, action: str, target: str, subject: str, via: str, command: str) -> None:
    """Log work done on the store without the API (CLI, demo), written at once, like an API call."""
    access_log = AccessLog(store, resolver=TargetResolver(store))
    entry = AccessEntry(utcnow(), normalise_subject(subject), "", via, action, target, "CLI", command, "local", 0)
    access_log.append(entry)
    if not access_log.flush():
        raise StoreError(f"could not write the access log entry for {action} {target}")
