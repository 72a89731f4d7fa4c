"""Refused credentials in the access log, rate-limited per source.

Token guessing must be visible to an auditor, but a flood of 401s must not flood the log:
each client address gets up to ``burst`` entries per ``window_s``; further refusals in that
window are counted and written as one summary entry when the window closes (checked at
every access-log flush, and on stop). At most ``max_sources`` addresses are tracked; the
oldest is summarised and forgotten first, so memory stays bounded whatever the traffic.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

from lineage.auth.audit import AccessEntry, AccessLog
from lineage.core.timeparse import utcnow

ACTION = "auth.refused"


@dataclass
class _Window:
    opened: float
    logged: int = 0
    suppressed: int = 0
    last: AccessEntry | None = None


class RefusalLog:
    """Feeds refused calls into an :class:`AccessLog`, at most ``burst`` per source and window."""

    def __init__(
        self,
        access_log: AccessLog,
        burst: int = 10,
        window_s: float = 60.0,
        max_sources: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.access_log = access_log
        self.burst, self.window_s, self.max_sources = burst, window_s, max_sources
        self._clock = clock
        self._windows: OrderedDict[str, _Window] = OrderedDict()
        self._lock = threading.Lock()
        access_log.before_flush.append(self.drain)

    def refused(self, entry: AccessEntry) -> None:
        """Record one refused call (cheap; safe from the event loop)."""
        now = self._clock()
        with self._lock:
            window = self._windows.get(entry.client)
            if window is not None and now - window.opened >= self.window_s:
                self._close(entry.client, window)
                window = None
            if window is None:
                window = self._windows[entry.client] = _Window(now)
                while len(self._windows) > self.max_sources:
                    self._close(*self._windows.popitem(last=False))
            self._windows.move_to_end(entry.client)
            if window.logged < self.burst:
                window.logged += 1
                self.access_log.append(entry)
            else:
                window.suppressed += 1
                window.last = entry

    def drain(self, everything: bool = False) -> None:
        """Write the summary of every window that has closed (of every window with ``everything``)."""
        now = self._clock()
        with self._lock:
            done = [k for k, w in self._windows.items() if everything or now - w.opened >= self.window_s]
            for key in done:
                self._close(key, self._windows.pop(key))

    def _close(self, key: str, window: _Window) -> None:
        self._windows.pop(key, None)
        if window.suppressed and window.last is not None:
            text = (
                f"{window.suppressed} more refused calls from {key or 'an unknown address'} in this window "
                f"(at most {self.burst} logged one by one per {self.window_s:g}s)"
            )
            self.access_log.append(replace(window.last, at=utcnow(), target=text))
