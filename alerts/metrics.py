"""Prometheus metrics of alert evaluation and delivery, so SRE can page on the evaluator itself.

Registered on the registry the caller gives (``serve``'s process-wide one, served on ``/metrics``),
else on one of their own: no process globals. Labels are rule and receiver names from the
configuration files, so their number is bounded by the operator, never by the data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

ROUND_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class AlertMetrics:
    """Round duration and outcome, rule errors, deliveries per receiver, whether this process leads."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.round_seconds = Histogram(
            "ledgerline_alert_round_duration_seconds",
            "Time of one alert round: evaluating the due rules, then sending what is due.",
            buckets=ROUND_BUCKETS,
            registry=registry,
        )
        self.rounds = Counter(
            "ledgerline_alert_rounds",
            "Alert rounds by outcome (error: the round raised; the next tick tries again).",
            ["outcome"],
            registry=registry,
        )
        self.last_success = Gauge(
            "ledgerline_alert_last_success_timestamp_seconds",
            "When the last alert round completed, Unix time (0: none yet in this process).",
            registry=registry,
        )
        self.interval = Gauge(
            "ledgerline_alert_round_interval_seconds",
            "The pause between alert rounds (LEDGERLINE_ALERT_TICK_S).",
            registry=registry,
        )
        self.rule_errors = Counter(
            "ledgerline_alert_rule_errors",
            "Rule evaluations that failed (the rule is in error and resolves nothing), per rule.",
            ["rule"],
            registry=registry,
        )
        self.rules_failing = Gauge(
            "ledgerline_alert_rules_failing", "Rules whose last evaluation failed.", registry=registry
        )
        self.leading = Gauge(
            "ledgerline_alert_evaluator_leading",
            "1 when this process evaluates the rules (it holds the lease, or needs none).",
            registry=registry,
        )
        self.attempts = Counter(
            "ledgerline_alert_delivery_attempts",
            "HTTP requests made to deliver notifications, retries included, per receiver.",
            ["receiver"],
            registry=registry,
        )
        self.retries = Counter(
            "ledgerline_alert_delivery_retries",
            "Delivery requests that retried an earlier failed one, per receiver.",
            ["receiver"],
            registry=registry,
        )
        self.notifications = Counter(
            "ledgerline_alert_notifications",
            "Notifications per receiver and outcome (delivered; failed: every attempt failed or was rejected).",
            ["receiver", "outcome"],
            registry=registry,
        )
        self.tickets = Counter(
            "ledgerline_ticket_actions",
            "Tries of ticket actions (open, comment, resolve) per receiver and outcome "
            "(done; retry: 429, 5xx or no connection, tried again later; failed: refused with a 4xx, not retried).",
            ["receiver", "kind", "outcome"],
            registry=registry,
        )

    def known(self, rules: Iterable[str], receivers: Iterable[str]) -> None:
        """Export every rule's and receiver's series at 0, so the first error is an increase."""
        for rule in rules:
            self.rule_errors.labels(rule)
        for receiver in receivers:
            self.attempts.labels(receiver)
            self.retries.labels(receiver)
            for outcome in ("delivered", "failed"):
                self.notifications.labels(receiver, outcome)

    def watch(self, leading: Callable[[], bool], failing: Callable[[], int]) -> None:
        """Read leadership and the rules in error at scrape time."""
        self.leading.set_function(lambda: 1.0 if leading() else 0.0)
        self.rules_failing.set_function(lambda: float(failing()))

    def round_done(self, seconds: float) -> None:
        """A round completed."""
        self.round_seconds.observe(seconds)
        self.rounds.labels("ok").inc()
        self.last_success.set_to_current_time()

    def round_failed(self) -> None:
        """A round raised (the store away, a bug in a rule kind)."""
        self.rounds.labels("error").inc()

    def rule_failed(self, rule: str) -> None:
        """One evaluation of ``rule`` failed."""
        self.rule_errors.labels(rule).inc()

    def attempted(self, receiver: str, attempt: int) -> None:
        """Delivery request number ``attempt`` (1 is the first) to ``receiver`` is about to go out."""
        self.attempts.labels(receiver).inc()
        if attempt > 1:
            self.retries.labels(receiver).inc()

    def notified(self, receiver: str, delivered: bool) -> None:
        """One notification to ``receiver`` was delivered, or failed for good."""
        self.notifications.labels(receiver, "delivered" if delivered else "failed").inc()

    def ticket_tried(self, receiver: str, kind: str, outcome: str) -> None:
        """One try of a ticket action: ``done``, ``retry`` or ``failed``."""
        self.tickets.labels(receiver, kind, outcome).inc()
