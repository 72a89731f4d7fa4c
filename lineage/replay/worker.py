"""The delivery worker: sends due replays within each target's rate limit, retries with
backoff, and confirms replays whose retried hop arrived.

Crash safety: an attempt is stored (state ``sent``, attempt N, next attempt after the HTTP
timeout plus backoff) *before* the request goes out. A restart therefore finds every replay
still to send; one interrupted mid-request is re-sent after that delay as attempt N+1 with
the same ``Idempotency-Key`` (the replay id): at-least-once delivery of one logical request.
A replay is never re-sent once ``delivered``, ``failed``, ``cancelled`` or ``confirmed``.

Several API processes on one store each have a worker; with a lease (:meth:`Worker.guard`)
only the holder delivers, so two workers never make the same attempt.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import httpx

from collector.store.errors import StoreError
from collector.store.lease import Lease, LeaseKeeper
from lineage.replay import delivery
from lineage.replay import state as sm
from lineage.replay.metrics import ReplayMetrics
from lineage.replay.repo import Row
from lineage.replay.service import ReplayService

log = logging.getLogger(__name__)
SYSTEM_ACTOR = "ledgerline"
CONFIRM_FAILED_FOR_MS = 7 * 24 * 3600_000  # how long a failed replay may still be confirmed


class Worker:
    """Runs :meth:`run_once` every ``replay_poll_s`` on a thread of its own."""

    def __init__(
        self,
        service: ReplayService,
        monotonic: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
        metrics: ReplayMetrics | None = None,
    ) -> None:
        """``metrics``: where the worker reports (lineage/replay/metrics.py), else a registry of its own."""
        self.service = service
        self.settings = service.settings
        self.monotonic = monotonic
        self.limits: dict[str, sm.RateLimit] = {}
        self.client = httpx.Client(timeout=self.settings.replay_timeout_s, transport=transport)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._keeper: LeaseKeeper | None = None
        self.metrics = metrics if metrics is not None else ReplayMetrics()
        self.metrics.known(sorted(service.targets.by_system))
        self.metrics.watch(lambda: self.delivering)

    @property
    def delivering(self) -> bool:
        """True while the worker thread runs and holds the lease (or needs none)."""
        running = self._thread is not None and self._thread.is_alive()
        return running and (self._keeper is None or self._keeper.held)

    def guard(self, lease: Lease) -> None:
        """Deliver only while holding ``lease`` (call before :meth:`start`)."""
        self._keeper = LeaseKeeper(lease)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        if self._keeper is not None:
            self._keeper.start()
        self._thread = threading.Thread(target=self._loop, name="replay-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the attempt in progress (its outcome is stored first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._keeper is not None:
            self._keeper.release()
        self.client.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self._keeper is not None and not self._keeper.wait(self.settings.replay_poll_s):
                continue  # another process delivers
            try:
                self.run_once()
            except StoreError as exc:  # the store is away: try again next round, nothing is lost
                log.warning("replay worker: %s", exc)
            self._stop.wait(self.settings.replay_poll_s)

    # -- one round ------------------------------------------------------------------------
    def run_once(self) -> tuple[int, int]:
        """Send what is due, then confirm; returns (attempts made, replays confirmed)."""
        repo = self.service.repo
        try:
            sent = sum(self._deliver(row) for row in repo.due(self.service.now_ms()))
            confirmed = self.confirm()
            now = self.service.now_ms()
            due, oldest_ms = repo.backlog(now)
        except StoreError:
            self.metrics.round_failed()
            raise
        self.metrics.round_done(due, (now - oldest_ms) / 1000 if due else 0.0, confirmed)
        return sent, confirmed

    def _write(self, row: Row, note: str, **changes: object) -> Row:
        return self.service.repo.write({**row, **changes}, SYSTEM_ACTOR, note, self.service.now_ms())

    def _begin(self, due: Row) -> Row | None:
        """Under the lock: re-read, re-check, and store the attempt about to be made."""
        svc = self.service
        row = svc.repo.get(due["id"])
        if row is None or row["version"] != due["version"]:
            return None  # changed since it was listed (cancelled, or another round took it)
        target = svc.targets.get(row["system"])
        if target is None:
            event = "supersede" if row["state"] == "approved" else "give_up"
            self._write(row, f"no replay target for system {row['system']!r}", state=sm.transition(row["state"], event))
            return None
        if row["state"] == "approved":  # never sent: a success meanwhile means a replay would post twice
            facts = svc.repo.entity_facts([(row["entity_type"], row["entity_id"], row["step"])])
            if any(f["succeeded"] for f in facts.values()):
                note = "the entity and step succeeded meanwhile; not sent (a replay would post twice)"
                self._write(row, note, state=sm.transition("approved", "supersede"))
                return None
        limit = self.limits.setdefault(target.system, sm.RateLimit(target.max_per_minute))
        if not limit.allow(self.monotonic()):
            return None
        attempt = int(row["attempts"]) + 1
        hold_ms = int((self.settings.replay_timeout_s + self._backoff(attempt)) * 1000)
        return self._write(
            row,
            f"attempt {attempt}",
            state=sm.transition(row["state"], "attempt"),
            attempts=attempt,
            next_attempt_ms=svc.now_ms() + hold_ms,
        )

    def _backoff(self, attempt: int) -> float:
        return sm.backoff_s(attempt, self.settings.replay_backoff_s, self.settings.replay_backoff_max_s)

    def _deliver(self, due: Row) -> int:
        svc = self.service
        with svc.lock:
            row = self._begin(due)
        if row is None:
            return 0
        target = svc.targets.get(row["system"])
        assert target is not None
        outcome = delivery.send(self.client, row, target, int(row["attempts"]))
        with svc.lock:
            attempt = int(row["attempts"])
            if outcome.delivered:
                self.metrics.attempted(target.system, "delivered")
                self._write(row, f"attempt {attempt} accepted", state=sm.transition("sent", "delivered"))
            elif outcome.retryable and attempt < self.settings.replay_max_attempts:
                self.metrics.attempted(target.system, "retry")
                wait_ms = int(self._backoff(attempt) * 1000)
                note = f"attempt {attempt} failed: {outcome.error}; retry in {wait_ms / 1000:g}s"
                self._write(row, note, state="sent", last_error=outcome.error, next_attempt_ms=svc.now_ms() + wait_ms)
            else:
                self.metrics.attempted(target.system, "failed")
                note = f"attempt {attempt} failed: {outcome.error}; giving up"
                row = self._write(row, note, state=sm.transition("sent", "give_up"), last_error=outcome.error)
                text = f"replay {row['id']}: {note}"
                svc.repo.exception_action(row, "replay_failed", SYSTEM_ACTOR, text, svc.now_ms())
        return 1

    def confirm(self) -> int:
        """Confirm replays whose entity and step reported ``ok`` after the replay was created.

        A replay that failed (in the last :data:`CONFIRM_FAILED_FOR_MS`) is confirmed too: the
        ``ok`` hop proves the posting went through, whoever retried it.
        """
        svc = self.service
        rows = svc.repo.awaiting(svc.now_ms() - CONFIRM_FAILED_FOR_MS)
        facts = svc.repo.entity_facts([(r["entity_type"], r["entity_id"], r["step"]) for r in rows])
        done = 0
        resolved: set[str] = set()  # one resolution per exception, however many of its replays confirm
        for due in rows:
            f = facts.get((due["entity_type"], due["entity_id"], due["step"]))
            if f is None or not f["succeeded"] or int(f["last_ok_ms"]) < int(due["created_ms"]):
                continue
            with svc.lock:
                row = svc.repo.get(due["id"])
                if row is None or row["state"] not in ("sent", "delivered", "failed"):
                    continue
                span = str(f["ok_span"])
                was = row["state"]
                text = f"hop {span} ok after the replay failed" if was == "failed" else f"retried hop {span} ok"
                row = self._write(row, text, state=sm.transition(was, "confirm"), confirmed_span=span)
                who = f"requested by {row['requested_by']}" + (
                    f", approved by {row['approved_by']}" if row["approved_by"] else ""
                )
                note = f"replay {row['id']} confirmed by hop {span} ({who})"
                if row["exception_id"] not in resolved:
                    svc.repo.exception_action(row, "resolve", f"{SYSTEM_ACTOR}:replay", note, svc.now_ms())
                    resolved.add(row["exception_id"])
            done += 1
        return done
