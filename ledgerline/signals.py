"""SIGINT and SIGTERM for the long-running commands (``serve``, ``demo``): stop cleanly, at any moment.

Installed before start-up, so a SIGTERM that arrives while the store opens or the servers
start is not the default instant death (acknowledged spans unsealed, a dashboard child
orphaned): it raises :class:`Interrupted` where the main thread is, like Ctrl-C does, and the
start-up code stops what it started on the way out. Once serving (:meth:`StopSignals.serving`),
:meth:`StopSignals.wait` returns on it. Any later signal is ignored, so none cuts the final
flush and seal short.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM before serving began; the command exits with 128 + ``signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StopSignals:
    """The first SIGINT or SIGTERM: :class:`Interrupted` during start-up, the end of :meth:`wait` after."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._serving = False
        self._event = threading.Event()
        for sig in SIGNALS:
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is not None:
            return  # already stopping
        self.received = signum
        self._event.set()
        if not self._serving:
            raise Interrupted(signum)

    def serving(self) -> None:
        """From now on a signal ends :meth:`wait` instead of raising: call it first thing in
        the ``try`` whose ``finally`` stops everything."""
        self._serving = True

    def wait(self) -> None:
        """Block until SIGINT or SIGTERM (at once if one came already)."""
        self.serving()
        while not self._event.wait(0.5):
            pass
