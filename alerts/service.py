"""The alert service: evaluator plus dispatcher, one round at a time or on a background thread."""

from __future__ import annotations

import logging
import threading
import time
import uuid

from prometheus_client import CollectorRegistry

from alerts.delivery import RetryPolicy
from alerts.dispatch import Dispatcher
from alerts.evaluator import Evaluator, LinkBuilder, Why
from alerts.metrics import AlertMetrics
from alerts.model import Alert, Transition
from alerts.persist import Persistence
from alerts.routing import ReceiversConfig, load_receivers
from alerts.rules import Rule, load_rules
from alerts.scoped import visible
from alerts.settings import AlertSettings
from alerts.silences import Silence
from alerts.tickets.service import Tickets
from collector.store import Store
from collector.store.lease import Lease, LeaseKeeper
from lineage.core.flows import FlowConfig, load_flows
from lineage.core.scope import Scope

log = logging.getLogger(__name__)


def now_ms() -> int:
    """The wall clock in epoch milliseconds."""
    return time.time_ns() // 1_000_000


class AlertService:
    """Evaluates rules and delivers notifications. ``run_once(now)`` is the fake-clock entry.

    With a ``lease`` (several processes on one store) only the holder evaluates and sends;
    the others wait, and whoever takes the lease over first reloads the state and the
    notification log the previous holder stored, so nothing pages twice or is lost.
    """

    def __init__(
        self,
        settings: AlertSettings,
        store: Store,
        rules: list[Rule] | None = None,
        receivers: ReceiversConfig | None = None,
        link: LinkBuilder | None = None,
        flows: FlowConfig | None = None,
        lease: Lease | None = None,
        evaluating: bool = True,
        registry: CollectorRegistry | None = None,
        why: Why | None = None,
    ) -> None:
        """``rules``/``receivers``/``flows`` already validated by the caller, else read from
        ``settings`` (and ``LEDGERLINE_FLOWS`` for the flows file).

        ``evaluating=False``: this process only serves the alerts API (``serve --components
        api``); it shows what the evaluating process stored and never evaluates.
        ``registry``: where the evaluator's metrics go (alerts/metrics.py), else a registry of its own.
        ``why``: the one-line "why?" of an instance that starts firing (lineage/explain/summary.py,
        injected by the composition root), kept in its ``why`` annotation."""
        self.settings = settings
        self.metrics = AlertMetrics(registry)
        self.persistence = Persistence(store)
        self.rules = rules if rules is not None else load_rules(settings.alert_rules)
        self.receivers = receivers if receivers is not None else load_receivers(settings.alert_receivers)
        self.flows = flows if flows is not None else load_flows()
        self.evaluator = Evaluator(
            self.persistence,
            self.rules,
            self.flows,
            dashboard_url=settings.dashboard_url,
            link=link,
            resolved_retention_ms=int(settings.alert_resolved_retention_s * 1000),
            query_timeout_s=settings.query_timeout_s,
            metrics=self.metrics,
            why=why,
        )
        retry = RetryPolicy(
            settings.alert_delivery_attempts,
            settings.alert_delivery_backoff_s,
            timeout_s=settings.alert_delivery_timeout_s,
        )
        self.dispatcher = Dispatcher(
            self.persistence, self.receivers, external_url=settings.dashboard_url, retry=retry, metrics=self.metrics
        )
        # Tickets for the exception backlog (alerts/tickets), when the receivers config has ticket rules.
        self.tickets = (
            Tickets(
                store,
                self.receivers,
                self.flows,
                dashboard_url=settings.dashboard_url,
                api_url=settings.api_url,
                link=link,
                backoff_s=settings.alert_delivery_backoff_s,
                timeout_s=settings.alert_delivery_timeout_s,
                metrics=self.metrics,
            )
            if self.receivers.tickets
            else None
        )
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._tag = f"ledgerline-alerts-{uuid.uuid4().hex}"  # marks this service's round queries
        self._thread: threading.Thread | None = None
        self.lease = lease
        self.evaluating = evaluating
        self._keeper = LeaseKeeper(lease) if lease is not None else None
        self._following = lease is not None  # state in memory may be stale until we lead
        self.metrics.known([r.name for r in self.rules], [r.name for r in self.receivers.receivers if not r.tickets])
        self.metrics.interval.set(settings.alert_tick_s)
        self.metrics.watch(lambda: self.leading, self._failing)

    @property
    def leading(self) -> bool:
        """True when this service is the active evaluator (always when evaluating without a lease)."""
        return self.evaluating and (self.lease is None or self.lease.held)

    def _failing(self) -> int:
        """How many rules are in error (read at scrape time, from another thread: a copy)."""
        return sum(h.health == "error" for h in list(self.evaluator.health.values()))

    def tick(self, at_ms: int | None = None) -> list[Transition] | None:
        """One round if this service holds the lease; None (nothing done) while another does."""
        if not self.leading:
            self._following = True
            return None
        if self._following:
            self._reload()
            self._following = False
        return self.run_once(at_ms)

    def _reload(self) -> None:
        """Take over from the previous evaluator: its instances and notification log."""
        with self._lock:
            self.evaluator.alerts = self.persistence.load_alerts()
            self.dispatcher.nflog = self.persistence.load_nflog()

    def run_once(self, at_ms: int | None = None, *, force: bool = False) -> list[Transition]:
        """One round: evaluate due rules, persist, then send what is due (timed: the metrics)."""
        at = now_ms() if at_ms is None else at_ms
        started = time.monotonic()
        try:
            with self._lock:
                transitions = self.evaluator.evaluate(at, force=force, stopping=self._stop.is_set)
                if self._stop.is_set():
                    return transitions  # stopping: the state is stored, the next start sends what is due
                silences = self.persistence.silences()
                self.dispatcher.dispatch(self.evaluator.active(), silences, at)
                self._tickets(at)
        except Exception:
            if not self._stop.is_set():  # else a query cancelled by stop(): no failure
                self.metrics.round_failed()
            raise
        self.metrics.round_done(time.monotonic() - started)
        return transitions

    def _tickets(self, at: int) -> None:
        """The tickets' round; its failure (a store hiccup) leaves the outbox for the next round."""
        if self.tickets is None:
            return
        try:
            self.tickets.run(at)
        except Exception:
            if self._stop.is_set():
                raise
            log.exception("ticket round failed")

    # -- background ---------------------------------------------------------------------
    def start(self) -> None:
        """Run rounds every ``alert_tick_s`` on a daemon thread (and keep the lease, if any)."""
        if self._thread is not None:
            return
        if self._keeper is not None:
            self._keeper.start()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="ledgerline-alerts", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self._keeper is not None and not self._keeper.wait(self.settings.alert_tick_s):
                self._following = True
                continue  # another process evaluates; wait for the lease
            try:
                with self.persistence.store.cancellable(self._tag):
                    self.tick()
            except Exception:  # the loop must outlive a bad round (store down, bug in a rule)
                if not self._stop.is_set():  # else: a query cancelled by stop()
                    log.exception("alert round failed")
            self._stop.wait(self.settings.alert_tick_s)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the thread promptly: a round under way is cut short, its queries cancelled
        (what it evaluated is stored, nothing is sent: the next start sends what is due)."""
        self._stop.set()
        if self._thread is not None:
            deadline = time.monotonic() + timeout_s
            while self._thread.is_alive() and time.monotonic() < deadline:
                self.persistence.store.cancel(self._tag)  # again: a query may start just after a kill
                self._thread.join(0.2)
            self._thread = None
        if self._keeper is not None:
            self._keeper.release()
        self.dispatcher.close()
        if self.tickets is not None:
            self.tickets.close()

    # -- API helpers --------------------------------------------------------------------
    def alerts(self, scope: Scope) -> list[tuple[Alert, list[str]]]:
        """Every held instance ``scope`` may see (alerts/scoped.py) with the ids of silences covering it now."""
        if not self.leading:  # the active evaluator is another process: show what it stored
            with self._lock:
                self.evaluator.alerts = self.persistence.load_alerts()
        silences = self.persistence.silences()
        at = now_ms()
        held = [(a, [s.id for s in silences if s.silences(a.labels, at)]) for a in self.evaluator.active()]
        return visible(self.persistence.store, scope, held)

    def silences(self) -> list[Silence]:
        """Every silence not deleted."""
        return self.persistence.silences()

    def add_silence(self, silence: Silence) -> Silence:
        """Store a silence."""
        self.persistence.save_silence(silence)
        return silence

    def delete_silence(self, silence_id: str) -> bool:
        """Remove a silence; False if unknown."""
        return self.persistence.delete_silence(silence_id)
