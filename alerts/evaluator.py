"""One evaluation round: run due rules, step their state machines, persist, report.

State is written to the store after each evaluation and before anything is sent, so a
restart neither pages twice nor loses a resolve. A rule whose query fails is put in an
error state and its instances are left exactly as they were (errors never resolve).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from alerts.kinds import Cache, run_rule
from alerts.metrics import AlertMetrics
from alerts.model import Alert, Sample, State, Transition, render
from alerts.persist import Persistence
from alerts.rules import Rule
from alerts.state import Timing, step
from collector.store.errors import StoreError
from lineage.core.flows import FlowConfig

log = logging.getLogger(__name__)
# Page and filters -> a relative dashboard URL ("/?page=latency&system=erp").
LinkBuilder = Callable[[Mapping[str, str]], str]
# True once the service is stopping: a round in progress ends early.
Stopping = Callable[[], bool]
# Why an instance fires, in one line (rule, its labels, now in ms -> text; '' for nothing):
# the top findings of "why?" (lineage/explain), injected by the composition root.
Why = Callable[[Rule, Mapping[str, str], int], str]


def _never() -> bool:
    return False


@dataclass
class RuleHealth:
    """The outcome of a rule's last evaluation."""

    health: str = "unknown"  # ok | error | unknown
    last_error: str = ""
    last_eval_at: int = 0


class Evaluator:
    """Evaluates rules against the store, keeping instance state in memory and in the store."""

    def __init__(
        self,
        persistence: Persistence,
        rules: list[Rule],
        flows: FlowConfig,
        *,
        dashboard_url: str = "",
        link: LinkBuilder | None = None,
        resolved_retention_ms: int = 15 * 60_000,
        query_timeout_s: float = 10.0,
        metrics: AlertMetrics | None = None,
        why: Why | None = None,
    ) -> None:
        """``link`` is the dashboard's link function (injected by the composition root); without
        it, rules' ``dashboard`` links are left out rather than built a second way here. ``why``
        adds the ``why`` annotation once per firing (kept while the instance fires)."""
        self.metrics = metrics if metrics is not None else AlertMetrics()
        self.persistence = persistence
        self.rules = rules
        self.flows = flows  # the business definitions the rules evaluate (lineage/core/domain.py)
        self.dashboard_url = dashboard_url.rstrip("/")
        self.link = link
        self.retention_ms = resolved_retention_ms
        self.timeout_s = query_timeout_s
        self.why = why
        self.alerts: dict[str, dict[str, Alert]] = persistence.load_alerts()
        self.health: dict[str, RuleHealth] = {r.name: RuleHealth() for r in rules}

    def _annotate(self, rule: Rule):  # type: ignore[no-untyped-def]
        def annotate(labels: dict[str, str], sample: Sample) -> dict[str, str]:
            notes = {
                k: render(v, labels, sample.value, sample.examples, self.dashboard_url)
                for k, v in rule.annotations.items()
            }
            if sample.examples:
                notes.setdefault("correlation_ids", ", ".join(sample.examples))
            if rule.dashboard and self.link is not None:
                params = {k: render(v, labels, sample.value, sample.examples) for k, v in rule.dashboard.items()}
                notes["dashboard_url"] = self.link(params)
            url = notes.get("dashboard_url", "")
            if url.startswith("/"):
                notes["dashboard_url"] = self.dashboard_url + url
            return notes

        return annotate

    def due(self, rule: Rule, now_ms: int) -> bool:
        """True when the rule's interval has passed since its last evaluation."""
        last = self.health[rule.name].last_eval_at
        return not last or now_ms - last >= rule.interval * 1000

    def evaluate(self, now_ms: int, *, force: bool = False, stopping: Stopping = _never) -> list[Transition]:
        """Evaluate every due rule (all with ``force``), persist, return the transitions.

        Once ``stopping()`` is true the round ends early: the rules evaluated so far are
        persisted, the rest (and one whose query the stop cancelled) wait for the next round."""
        transitions: list[Transition] = []
        changed: list[Alert] = []
        removed: list[Alert] = []
        cache: Cache = {}
        for rule in self.rules:
            if stopping():
                break
            if force or self.due(rule, now_ms):
                transitions += self._evaluate_rule(rule, now_ms, changed, removed, cache, stopping)
        transitions += self._retire_orphans(now_ms, changed, removed)
        # Persist before anything is sent (the caller dispatches afterwards).
        self.persistence.save_alerts(changed, removed)
        self.persistence.append_history(transitions)
        return transitions

    def _evaluate_rule(
        self,
        rule: Rule,
        now_ms: int,
        changed: list[Alert],
        removed: list[Alert],
        cache: Cache,
        stopping: Stopping = _never,
    ) -> list[Transition]:
        health = self.health[rule.name]
        health.last_eval_at = now_ms
        prev = self.alerts.get(rule.name, {})
        try:
            samples = run_rule(
                self.persistence.store,
                rule,
                now_ms,
                flows=self.flows,
                timeout_s=self.timeout_s,
                cache=cache,
            )
            timing = Timing(int(rule.for_ * 1000), int(rule.keep_firing_for * 1000), self.retention_ms)
            current, out = step(rule.name, rule.base_labels(), prev, samples, timing, now_ms, self._annotate(rule))
        except (StoreError, ValueError) as exc:
            if stopping():  # cancelled by stop(): not evaluated, so no error state either
                return []
            log.warning("rule %s failed: %s", rule.name, exc)
            self.metrics.rule_failed(rule.name)
            out = []
            if health.health != "error":
                out.append(
                    Transition(now_ms, rule.name, "", rule.base_labels(), health.health, "error", str(exc)[:500])
                )
            health.health, health.last_error = "error", str(exc)
            return out
        if health.health == "error":
            out.append(Transition(now_ms, rule.name, "", rule.base_labels(), "error", "ok", "query succeeded"))
        health.health, health.last_error = "ok", ""
        current = self._explained(rule, prev, current, out, now_ms)
        self.alerts[rule.name] = current
        changed.extend(current.values())
        removed.extend(a for fp, a in prev.items() if fp not in current)
        return out

    def _explained(
        self, rule: Rule, prev: dict[str, Alert], current: dict[str, Alert], out: list[Transition], now_ms: int
    ) -> dict[str, Alert]:
        """``current`` with the ``why`` annotation: computed when an instance starts firing,
        carried over while it keeps firing. A failure to explain never holds the alert back."""
        fired = {t.fingerprint for t in out if t.to_state == State.FIRING.value}
        result = dict(current)
        for fp, alert in current.items():
            text = ""
            if fp in fired and self.why is not None:
                try:
                    text = self.why(rule, alert.labels, now_ms)
                except (StoreError, ValueError) as exc:
                    log.warning("rule %s: cannot explain %s: %s", rule.name, fp, exc)
            elif alert.state == State.FIRING and fp in prev:
                text = prev[fp].annotations.get("why", "")
            if text and "why" not in alert.annotations:
                result[fp] = alert.with_(annotations={**alert.annotations, "why": text})
        return result

    def _retire_orphans(self, now_ms: int, changed: list[Alert], removed: list[Alert]) -> list[Transition]:
        """Alerts of rules no longer in the rule file: resolve them, then forget them.

        They step as if their rule returned nothing: firing ones resolve now (so the
        resolve is sent once, like any other), pending ones go, resolved ones are kept
        for the retention period and then dropped. Nothing re-fires them.
        """
        names = {rule.name for rule in self.rules}
        out: list[Transition] = []
        for name in [n for n in self.alerts if n not in names]:
            prev = self.alerts[name]
            if any(a.state != State.RESOLVED for a in prev.values()):
                log.warning("rule %s is no longer defined: resolving its %d alert(s)", name, len(prev))
            current, moved = step(name, {}, prev, [], Timing(0, 0, self.retention_ms), now_ms, lambda labels, s: {})
            out += [replace(t, reason="rule removed") for t in moved]
            changed.extend(current.values())
            removed.extend(a for fp, a in prev.items() if fp not in current)
            if current:
                self.alerts[name] = current
            else:
                del self.alerts[name]
        return out

    def active(self) -> list[Alert]:
        """Every instance held (pending, firing, resolved within retention)."""
        # dict() copies are atomic under the GIL: safe while the evaluator thread assigns.
        return [a for by_fp in dict(self.alerts).values() for a in dict(by_fp).values()]
