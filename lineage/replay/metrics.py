"""Prometheus metrics of the replay delivery worker: its queue, its attempts, its rounds.

Registered on the registry the caller gives (the API app's, which ``serve`` shares process-wide),
else on one of their own: no process globals. The ``target`` label is a system of the replay
targets file, so its values are bounded by the configuration, never by the data.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge

OUTCOMES = ("delivered", "retry", "failed")  # accepted; failed and will retry; failed, given up


class ReplayMetrics:
    """Due replays, attempts per target and outcome, confirmations, rounds, leadership."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.due = Gauge(
            "ledgerline_replay_due",
            "Replays due for an attempt after the worker's last round (approved, or sent and past "
            "their retry time): the delivery queue.",
            registry=registry,
        )
        self.oldest_due = Gauge(
            "ledgerline_replay_oldest_due_age_seconds",
            "How long the oldest due replay has waited past its attempt time, after the last round (0: none due).",
            registry=registry,
        )
        self.attempts = Counter(
            "ledgerline_replay_attempts",
            "Replay delivery attempts by target system and outcome (delivered; retry: failed, "
            "retried later; failed: failed, given up).",
            ["target", "outcome"],
            registry=registry,
        )
        self.confirmed = Counter(
            "ledgerline_replay_confirmed", "Replays confirmed by their retried hop.", registry=registry
        )
        self.rounds = Counter(
            "ledgerline_replay_rounds",
            "Worker rounds by outcome (error: the store failed; the next round tries again).",
            ["outcome"],
            registry=registry,
        )
        self.last_run = Gauge(
            "ledgerline_replay_last_run_timestamp_seconds",
            "When the worker last completed a round, Unix time (0: none yet in this process).",
            registry=registry,
        )
        self.leading = Gauge(
            "ledgerline_replay_worker_leading",
            "1 when this process's worker delivers (it runs and holds the lease, or needs none).",
            registry=registry,
        )

    def known(self, targets: list[str]) -> None:
        """Export every target's series at 0, so the first failure is an increase."""
        for target in targets:
            for outcome in OUTCOMES:
                self.attempts.labels(target, outcome)

    def watch(self, leading: Callable[[], bool]) -> None:
        """Read leadership at scrape time."""
        self.leading.set_function(lambda: 1.0 if leading() else 0.0)

    def attempted(self, target: str, outcome: str) -> None:
        """One attempt to ``target`` ended with ``outcome`` (one of :data:`OUTCOMES`)."""
        self.attempts.labels(target, outcome).inc()

    def round_done(self, due: int, oldest_due_s: float, confirmed: int) -> None:
        """A round completed; ``due`` replays were still due after it."""
        self.due.set(due)
        self.oldest_due.set(oldest_due_s)
        self.confirmed.inc(confirmed)
        self.rounds.labels("ok").inc()
        self.last_run.set_to_current_time()

    def round_failed(self) -> None:
        """A round raised (the store failed)."""
        self.rounds.labels("error").inc()
