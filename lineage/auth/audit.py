"""The access log: who read or changed what, appended to the store in batches.

Requests only queue an entry (a list append); a background thread writes the queue every
``access_log_flush_s`` seconds, so logging never slows a read. ``stop`` writes whatever is
left, so a clean stop loses nothing; a failed write keeps the entries for the next try.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from collector.store import Store
from collector.store.errors import StoreError
from lineage.auth import queries
from lineage.auth.principal import normalise_subject
from lineage.core.scope import EVERYTHING, Scope

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
    # (legal entity, region) pairs of the data the call touched; resolved when written (targets.py).
    scopes: tuple[tuple[str, str], ...] = ()
    # The actor's own scope: what an entry without a resolvable target touched. Not stored.
    actor_scope: Scope = field(default=EVERYTHING, compare=False)

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
            list(self.scopes),
        ]


Resolver = Callable[[Sequence[AccessEntry]], list[tuple[tuple[str, str], ...]]]


class AccessLog:
    """Batched, append-only writes to ``access_log`` and bounded reads of it."""

    def __init__(self, store: Store, flush_interval_s: float = 0.5, resolver: Resolver | None = None) -> None:
        self.store = store
        self.flush_interval_s = flush_interval_s
        self.resolver = resolver
        # Called at the start of every flush (rate-limited writers summarise here); stop passes True.
        self.before_flush: list[Callable[[bool], None]] = []
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

    def flush(self, final: bool = False) -> int:
        """Write every queued entry now; returns how many were written."""
        for hook in self.before_flush:
            hook(final)
        with self._write_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return 0
            rows = [e.row() for e in self._resolved(batch)]
            try:
                self.store.insert("access_log", rows, queries.ACCESS_COLUMNS)
            except StoreError as exc:
                log.error("access log: writing %d entries failed, will retry: %s", len(batch), exc)
                with self._lock:
                    self._pending[:0] = batch
                return 0
            return len(batch)

    def _resolved(self, batch: list[AccessEntry]) -> list[AccessEntry]:
        """The batch with each entry's touched scope; unresolved entries stay hidden from scoped callers."""
        if self.resolver is None:
            return [e if e.scopes else replace(e, scopes=tuple(e.actor_scope.pairs())) for e in batch]
        try:
            pairs = self.resolver(batch)
        except StoreError as exc:
            log.warning(
                "access log: cannot resolve the targets of %d entries (kept from scoped readers): %s",
                len(batch),
                str(exc).splitlines()[0] if str(exc) else exc,
            )
            return batch
        return [replace(e, scopes=p) for e, p in zip(batch, pairs, strict=True)]

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
        self.flush(final=True)

    def query(
        self,
        since_ms: int,
        until_ms: int,
        subject: str = "",
        action: str = "",
        limit: int = 1000,
        scope: Scope = EVERYTHING,
    ) -> tuple[list[dict[str, Any]], bool, int]:
        """Entries in the window visible within ``scope``, newest first; whether more matched than
        ``limit``; how many matched but were withheld (outside ``scope``)."""
        self.flush()  # an auditor sees the calls made a moment ago
        params = {
            "since_ms": since_ms,
            "until_ms": until_ms,
            "subject": normalise_subject(subject),
            "action": action,
            **scope.params(),
        }
        page = self.store.query_bounded(queries.SELECT_ACCESS, params, limit)
        withheld = 0 if scope.unrestricted else int(self.store.query(queries.COUNT_WITHHELD, params)[0][0])
        return page.rows, page.truncated, withheld
