"""Routing, grouping, silences and the notification log (Alertmanager's dedup rules).

For each (receiver, group) a notification goes out when: nothing was sent yet, something
fires and ``group_wait`` has passed; or, after ``group_interval``, new alerts fire, every
alert resolved, or (``send_resolved``) some resolved; or ``repeat_interval`` passed while
firing. The log is written to the store only after a delivery succeeded, and the
instance state is persisted before dispatch, so a restart neither re-pages nor loses a
resolve. Delivery is at-least-once: a crash between a send and its log entry resends.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from alerts import notify
from alerts.delivery import RetryPolicy, post_json
from alerts.errors import DeliveryError
from alerts.metrics import AlertMetrics
from alerts.model import Alert, State
from alerts.persist import Persistence
from alerts.routing import Policy, Receiver, ReceiversConfig
from alerts.silences import Silence

log = logging.getLogger(__name__)


@dataclass
class Group:
    """The alerts of one (receiver, group key) this round."""

    policy: Policy
    key: str
    labels: dict[str, str]
    alerts: list[Alert] = field(default_factory=list)


def group_key(policy: Policy, labels: dict[str, str]) -> tuple[str, dict[str, str]]:
    """Alertmanager-style group key and group labels."""
    grouped = {k: labels.get(k, "") for k in policy.group_by} if "..." not in policy.group_by else dict(labels)
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(grouped.items()))
    return f"{{}}/{policy.receiver}:{{{inner}}}", grouped


class Dispatcher:
    """Sends what the state calls for, once, to every routed receiver."""

    def __init__(
        self,
        persistence: Persistence,
        config: ReceiversConfig,
        *,
        external_url: str = "",
        retry: RetryPolicy | None = None,
        metrics: AlertMetrics | None = None,
    ) -> None:
        self.persistence = persistence
        self.metrics = metrics if metrics is not None else AlertMetrics()
        self.config = config
        self.external_url = external_url
        self.retry = retry or RetryPolicy()
        self.nflog = persistence.load_nflog()
        self.client = httpx.Client()
        self.sent: list[tuple[str, str]] = []  # (receiver, group key), for tests and metrics

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()

    def groups(self, alerts: list[Alert], silences: list[Silence], now: int) -> list[Group]:
        """Firing and resolved alerts, silenced ones left out, grouped per route."""
        out: dict[tuple[str, str], Group] = {}
        for alert in alerts:
            if alert.state not in (State.FIRING, State.RESOLVED):
                continue
            if any(s.silences(alert.labels, now) for s in silences):
                continue
            for policy in self.config.policies(alert.labels):
                key, labels = group_key(policy, alert.labels)
                out.setdefault((policy.receiver, key), Group(policy, key, labels)).alerts.append(alert)
        return list(out.values())

    def _due(self, group: Group, receiver: Receiver, now: int) -> bool:
        firing = frozenset(a.fingerprint for a in group.alerts if a.state == State.FIRING)
        entry = self.nflog.get((receiver.name, group.key))
        if entry is None:
            if not firing:
                return False
            first = min(a.fired_at for a in group.alerts if a.state == State.FIRING)
            return now - first >= group.policy.group_wait_ms
        sent_firing, _, sent_at = entry
        if receiver.type == "alertmanager":  # stateless on the other side: re-post regularly
            return bool(group.alerts) and (firing != sent_firing or now - sent_at >= receiver.resend_delay * 1000)
        resolved = sent_firing - firing
        if not firing <= sent_firing or (not firing and sent_firing) or (receiver.send_resolved and resolved):
            return now - sent_at >= group.policy.group_interval_ms
        return bool(firing) and now - sent_at >= group.policy.repeat_interval_ms

    def dispatch(self, alerts: list[Alert], silences: list[Silence], now: int) -> int:
        """Send due notifications, each receiver in its own worker; returns how many went out."""
        due = []
        for group in self.groups(alerts, silences, now):
            receiver = self.config.receiver(group.policy.receiver)
            if self._due(group, receiver, now):
                due.append((group, receiver))
        if not due:
            return 0
        with ThreadPoolExecutor(max_workers=min(8, len(due))) as pool:
            results = list(pool.map(lambda gr: self._send(gr[0], gr[1], now), due))
        return sum(results)

    def _send(self, group: Group, receiver: Receiver, now: int) -> bool:
        alerts = group.alerts
        entry = self.nflog.get((receiver.name, group.key))
        if entry and receiver.type != "alertmanager":
            # Resolved alerts are only news to those who heard they fired.
            alerts = [a for a in alerts if a.state == State.FIRING or a.fingerprint in entry[0]]
            if not receiver.send_resolved and any(a.state == State.FIRING for a in alerts):
                alerts = [a for a in alerts if a.state == State.FIRING]
        try:
            self._deliver(receiver, group, alerts, now)
        except Exception as exc:  # one receiver down must not block the others
            log.warning("receiver %s, group %s: %s", receiver.name, group.key, exc)
            self.metrics.notified(receiver.name, delivered=False)
            return False
        self.metrics.notified(receiver.name, delivered=True)
        firing = frozenset(a.fingerprint for a in group.alerts if a.state == State.FIRING)
        resolved = frozenset(a.fingerprint for a in group.alerts if a.state == State.RESOLVED)
        self.persistence.save_nflog(receiver.name, group.key, firing, resolved, now)
        self.nflog[(receiver.name, group.key)] = (firing, resolved, now)
        self.sent.append((receiver.name, group.key))
        return True

    def _deliver(self, receiver: Receiver, group: Group, alerts: list[Alert], now: int) -> None:
        url = receiver.target()

        def post(to: str, body: object) -> None:
            post_json(self.client, to, body, self.retry, lambda n: self.metrics.attempted(receiver.name, n))

        if receiver.type == "webhook":
            body = notify.webhook_v4(
                receiver.name, group.key, group.labels, alerts, self.external_url, receiver.max_alerts
            )
            post(url, body)
        elif receiver.type == "alertmanager":
            valid = now + 4 * int(max(receiver.resend_delay, 60) * 1000)
            post(url.rstrip("/") + "/api/v2/alerts", [notify.am_postable(a, valid, self.external_url) for a in alerts])
        elif receiver.type == "slack":
            post(url, notify.slack(group.labels, alerts))
        elif receiver.type == "pagerduty":
            key = receiver.routing_key().get_secret_value()
            entry = self.nflog.get((receiver.name, group.key))
            for alert in alerts:
                # Trigger what is new (or repeat), resolve what was triggered.
                if alert.state == State.RESOLVED and not (entry and alert.fingerprint in entry[0]):
                    continue
                post(url, notify.pagerduty(alert, key, "ledgerline", self.external_url))
        else:  # pragma: no cover - validated by the model
            raise DeliveryError(f"unknown receiver type {receiver.type}")
