"""Leases in the store: exactly one active alert evaluator and one sealer among many processes.

A lease is a sequence of claims ``(Name, Version, Holder, ExpiresAt)``; the current holder is
the claim with the highest version (the smallest holder among equal versions). Expiry is
compared on the store's clock (``now64``), never a process's. To take a lease a process
reads the current claim; if it is live and someone else's, it waits. Otherwise it claims the
next version, waits ``settle_s`` (so that a competitor who read the same state has
committed its claim too), and reads again: it holds the lease only if its claim won.

- On one node (``MergeTree``) two claims of one version are both stored and every reader
  picks the same winner. This is safe as long as a claim commits within ``settle_s`` of
  its read (a stalled process can lose its lease, never share it).
- On a cluster the table is ``KeeperMap`` with strict inserts: the second claim of a
  version fails outright (a compare-and-set), the settle wait is a formality.

The holder renews before expiry by claiming the next version (a live lease is never claimed
by anyone else); it stops counting itself the holder at its own deadline (claim time +
TTL - settle), before the store's expiry. Releasing writes an expired claim, so a waiting
process takes over at once instead of after the TTL.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from collector.store import queries
from collector.store.client import Store
from collector.store.errors import StoreError

log = logging.getLogger(__name__)

ALERTS = "alert-evaluator"
SEALER = "sealer"
REPLAY = "replay-worker"
_PRUNE_EVERY = 100  # renewals between deletions of old claims


@dataclass(frozen=True)
class Claim:
    """The current claim of a lease."""

    version: int
    holder: str
    live: bool


def default_holder() -> str:
    """A holder name unique to this process and lease: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """One named lease in ``store``, tried with :meth:`acquire` (which also renews)."""

    def __init__(
        self,
        store: Store,
        name: str,
        *,
        ttl_s: float = 30.0,
        settle_s: float = 1.0,
        holder: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if settle_s * 3 > ttl_s:
            raise ValueError("a lease's TTL must be at least three times its settle time")
        self.store = store
        self.name = name
        self.ttl_s = ttl_s
        self.settle_s = settle_s
        self.holder = holder or default_holder()
        self._clock = clock
        self._deadline: float | None = None
        self._version = 0
        self._renewals = 0

    @property
    def held(self) -> bool:
        """True while this process holds the lease (by its own conservative deadline)."""
        return self._deadline is not None and self._clock() < self._deadline

    def current(self) -> Claim | None:
        """The winning claim, live or expired; None if the lease was never claimed."""
        rows = self.store.query(queries.LEASE_CURRENT, {"name": self.name})
        return Claim(int(rows[0][0]), str(rows[0][1]), bool(rows[0][2])) if rows else None

    def acquire(self) -> bool:
        """Take or renew the lease if it is free or ours; True when held afterwards."""
        started = self._clock()
        claim = self.current()
        if claim is not None and claim.live and claim.holder != self.holder:
            self.lose()
            return False
        version = (claim.version if claim else 0) + 1
        renewal = claim is not None and claim.live and self.held and claim.version == self._version
        if not self._claim(version, self.ttl_s):
            self.lose()
            return False
        if not renewal:  # a competitor may have read the same state: let its claim land, then look
            time.sleep(self.settle_s)
            winner = self.current()
            if winner is None or winner.holder != self.holder or winner.version != version:
                self.lose()
                return False
            log.info("lease %s taken by %s (version %d)", self.name, self.holder, version)
        self._deadline = started + self.ttl_s - self.settle_s
        self._version = version
        self._renewals += 1
        if self._renewals % _PRUNE_EVERY == 0:
            self.store.command(queries.LEASE_PRUNE, {"name": self.name, "below": version - 10})
        return True

    def release(self) -> None:
        """Give the lease up now (an expired claim), so a waiting process takes over at once."""
        if not self.held:
            return
        self._deadline = None
        try:
            self._claim(self._version + 1, 0.0)
            log.info("lease %s released by %s", self.name, self.holder)
        except StoreError:
            log.warning("releasing lease %s failed; it expires on its own", self.name, exc_info=True)

    def _claim(self, version: int, ttl_s: float) -> bool:
        params = {
            "key": f"{self.name}/{version}",
            "name": self.name,
            "version": version,
            "holder": self.holder,
            "ttl_ms": int(ttl_s * 1000),
        }
        try:
            self.store.command(queries.LEASE_CLAIM, params)
        except StoreError as exc:  # KeeperMap (strict): the version is taken; or the store is away
            log.debug("claim %d of lease %s failed: %s", version, self.name, exc)
            return False
        return True

    def lose(self) -> None:
        """Stop counting this process the holder (the store answered otherwise, or did not answer)."""
        if self._deadline is not None:
            log.warning("lease %s lost by %s", self.name, self.holder)
        self._deadline = None


class LeaseKeeper:
    """Keeps trying (and renewing) a lease on a daemon thread every ``ttl_s / 3``.

    Separate from the work it guards, so a long alert round or seal never lets the lease lapse.
    """

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self._held = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def held(self) -> bool:
        """True while the lease is ours."""
        return self.lease.held

    def wait(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the lease; True when held."""
        self._held.wait(timeout_s)
        return self.held

    def start(self) -> None:
        """Try at once and keep trying and renewing, in the background."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"lease-{self.lease.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                held = self.lease.acquire()
            except StoreError:  # the store is away: we hold nothing until it answers again
                log.warning("lease %s: the store did not answer", self.lease.name, exc_info=True)
                self.lease.lose()
                held = False
            if held:
                self._held.set()
            else:
                self._held.clear()
            self._stop.wait(self.lease.ttl_s / 3)

    def stop(self) -> None:
        """Stop renewing (the lease is kept until :meth:`release` or expiry)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.lease.ttl_s)
            self._thread = None

    def release(self) -> None:
        """Stop renewing and give the lease up."""
        self.stop()
        self._held.clear()
        self.lease.release()
