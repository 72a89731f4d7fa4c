"""The access log: who read or changed what, appended to the store in batches.

Requests only queue an entry (a list append); a background thread writes the queue every
``access_log_flush_s`` seconds, so logging never slows a read. ``stop`` writes whatever is
left, so a clean stop loses nothing; a failed write keeps the entries for the next try.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from collector.errors import StoreError
from collector.store import Store
from lineage.auth import queries

log = logging.getLogger(__name__)

MAX_PENDING = 100_000


@dataclass(frozen=True)
class AccessEntry:
    """One logged call."""

    at: datetime
    subject: str
    role: str
    via: str
    action: str
    target: str
    method: str
    path: str
    client: str
    status: int

    def row(self) -> list[Any]:
        """The entry in ``queries.ACCESS_COLUMNS`` order."""
        return [
            self.at,
            self.subject,
            self.role,
            self.via,
            self.action,
            self.target,
            self.method,
            self.path,
            self.client,
            self.status,
        ]


class AccessLog:
    """Batched, append-only writes to ``access_log`` and bounded reads of it."""

    def __init__(self, store: Store, flush_interval_s: float = 0.5) -> None:
        self.store = store
        self.flush_interval_s = flush_interval_s
        self._pending: list[AccessEntry] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def append(self, entry: AccessEntry) -> None:
        """Queue an entry (cheap; safe from any thread or the event loop)."""
        with self._lock:
            if len(self._pending) >= MAX_PENDING:
                # Only when the store has been failing for a long time: say so loudly.
                log.error("access log: %d entries could not be written; dropping the oldest", len(self._pending))
                del self._pending[0]
            self._pending.append(entry)

    def flush(self) -> int:
        """Write every queued entry now; returns how many were written."""
        with self._write_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return 0
            try:
                self.store.insert("access_log", [e.row() for e in batch], queries.ACCESS_COLUMNS)
            except StoreError as exc:
                log.error("access log: writing %d entries failed, will retry: %s", len(batch), exc)
                with self._lock:
                    self._pending[:0] = batch
                return 0
            return len(batch)

    def start(self) -> None:
        """Write in the background until :meth:`stop`."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval_s):
            self.flush()

    def stop(self) -> None:
        """Stop the writer and write everything still queued."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        self.flush()

    def query(
        self, since_ms: int, until_ms: int, subject: str = "", action: str = "", limit: int = 1000
    ) -> tuple[list[dict[str, Any]], bool]:
        """Entries in the window, newest first, and whether more matched than ``limit``."""
        self.flush()  # an auditor sees the calls made a moment ago
        rows = self.store.query_dicts(
            queries.SELECT_ACCESS,
            {"since_ms": since_ms, "until_ms": until_ms, "subject": subject, "action": action, "limit": limit + 1},
        )
        return rows[:limit], len(rows) > limit
