"""Running a simulation: backfill, then paced live traffic; progress and the summary."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from ledgerline.simulator import monthend
from ledgerline.simulator.config import FAULT_FLOW, FAULT_KINDS, FLOW_FAULT_KINDS, SimConfig
from ledgerline.simulator.emit import Estate, ExporterFactory, otlp_exporter
from ledgerline.simulator.model import SEC, BatchJournal, Transaction
from ledgerline.simulator.scenario import (
    batch_runs,
    build_transaction,
    make_batches,
    plan_backfill,
)

_LIVE_BATCH_LAG = 45 * SEC  # a live journal starts this far back, so it ends by "now"


@dataclass
class Summary:
    """What a simulation sent and which faults it injected (transactions per kind)."""

    transactions: int = 0
    spans_emitted: int = 0
    spans_sent: int = 0
    spans_failed: int = 0
    batch_journals: int = 0
    batch_pending: int = 0  # invoices waiting for a batch run that did not come
    faults: Counter[str] = field(default_factory=Counter)
    details: Counter[str] = field(default_factory=Counter)  # fault variants, e.g. "missing_hop:no ledger"
    flows: Counter[str] = field(default_factory=Counter)  # transactions per flow
    failed_attempts: Counter[str] = field(default_factory=Counter)  # failed/retried attempts per "flow:step"
    spans_month_end: int = 0  # the month end's hops (simulator/monthend.py)
    backfill_start_ns: int | None = None
    backfill_end_ns: int | None = None
    elapsed_s: float = 0.0

    def record(self, tx: Transaction) -> None:
        """Count an emitted transaction (batch ones count once their journal is out)."""
        self.transactions += 1
        self.flows[tx.flow or "support_credit"] += 1
        for h in tx.hops:
            if h.outcome != "ok":
                self.failed_attempts[f"{tx.flow or 'support_credit'}:{h.step}"] += 1
        if tx.fault and tx.fault != "batch_journal":
            self.faults[tx.fault] += 1
            if tx.detail:
                self.details[f"{tx.fault}:{tx.detail}"] += 1

    def record_batch(self, journal: BatchJournal) -> None:
        """Count an emitted batch journal and the invoices it posted."""
        self.batch_journals += 1
        self.faults["batch_journal"] += len(journal.invoice_seqs)

    def as_dict(self) -> dict[str, Any]:
        """Plain data, e.g. for JSON."""
        data = asdict(self)
        data["faults"] = {k: self.faults.get(k, 0) for k in FAULT_KINDS + FLOW_FAULT_KINDS}
        data["flows"] = dict(sorted(self.flows.items()))
        data["failed_attempts"] = dict(sorted(self.failed_attempts.items()))
        data["details"] = dict(sorted(self.details.items()))
        return data

    def format(self, config: SimConfig) -> str:
        """The final report: totals and injected faults against their configured rates."""
        lines = [
            f"simulate: done in {self.elapsed_s:.1f}s: {self.transactions} transactions, "
            f"{self.spans_sent} spans sent, {self.spans_failed} failed",
            "injected faults (transactions, measured rate vs configured):",
        ]
        # support_credit faults are a share of its transactions (the other flows' have their own)
        total = max(1, self.flows.get(config.flow, 0) if config.flow_mix else self.transactions)
        for kind in FAULT_KINDS:
            n = self.faults.get(kind, 0)
            extra = ""
            if kind == "batch_journal":
                extra = f"  in {self.batch_journals} journal(s)" + (
                    f", {self.batch_pending} awaiting the next run" if self.batch_pending else ""
                )
            lines.append(f"  {kind:<18} {n:>6}  {n / total:6.3f} vs {config.rate_of(kind):.3f}{extra}")
        for kind in FLOW_FAULT_KINDS:
            n = self.faults.get(kind, 0)
            if n or config.flow_mix:
                flow = FAULT_FLOW[kind]
                share = n / max(1, self.flows.get(flow, 0))
                rate = config.flow_fault_rates.get(kind, 0.0)
                lines.append(f"  {kind:<18} {n:>6}  {share:6.3f} vs {rate:.3f}  of {flow}")
        lines.extend(f"    {k:<34} {v:>6}" for k, v in sorted(self.details.items()))
        if config.flow_mix:
            lines.append("transactions per flow: " + ", ".join(f"{k} {v}" for k, v in sorted(self.flows.items())))
            lines.extend(f"  where to see them: {hint}" for hint in self.hints())
        return "\n".join(lines)

    def hints(self) -> list[str]:
        """Where each injected flow fault shows in the API (and the dashboard pages over it)."""
        d = self.details
        return [
            f"{d['billing_lag:pending']} orders awaiting billing: "
            "GET /api/v1/flows/order_to_cash/waiting (stage billing)",
            f"{d['billing_lag:late']} invoices over the order_to_invoice_cycle target: "
            "GET /api/v1/kpis?flow=order_to_cash",
            f"{d['crm_outage:pending']} payments not in the CRM: GET /api/v1/flows/payment_sync/waiting (stage crm) "
            "and GET /api/v1/reconciliations/payment_to_crm/breaks",
            f"{self.failed_attempts['payment_sync:payment.applied']} refused CRM attempts: crm_failure_rate KPI",
            f"{self.faults['posting_reversed']} reversed postings (compensated, not breaks): "
            "GET /api/v1/reconciliations/invoice_to_ledger",
        ]


class _Progress:
    """Prints sent/failed/rate every ``progress_every_s`` seconds."""

    def __init__(self, config: SimConfig, estate: Estate, summary: Summary, out: TextIO | None) -> None:
        self.every, self.estate, self.summary, self.out = config.progress_every_s, estate, summary, out
        self.started = self.last = self.phase_started = time.monotonic()
        self.phase, self.phase_tx = "", 0

    def tick(self, phase: str, force: bool = False) -> None:
        now = time.monotonic()
        if phase != self.phase:  # the rate is the current phase's: live traffic shows the live rate
            self.phase, self.phase_started, self.phase_tx = phase, now, self.summary.transactions
        if self.out is None or (not force and now - self.last < self.every):
            return
        self.last = now
        rate = self.rate(now)
        print(
            f"simulate [{phase}]: {self.summary.transactions} tx, {self.estate.sent} spans sent, "
            f"{self.estate.failed} failed, {rate:.1f} tx/s",
            file=self.out,
            flush=True,
        )

    def rate(self, now: float) -> float:
        """Transactions per second in the current phase."""
        return (self.summary.transactions - self.phase_tx) / max(now - self.phase_started, 1e-9)


def _backfill(
    config: SimConfig,
    estate: Estate,
    summary: Summary,
    progress: _Progress,
    now_ns: int,
    stop_event: threading.Event | None = None,
) -> int:
    """Emit the history window (cut short by ``stop_event``); return the next sequence number."""
    count = config.backfill_total
    if not count:
        return 0
    start = now_ns - int(config.backfill_s * SEC)
    summary.backfill_start_ns, summary.backfill_end_ns = start, now_ns
    txs, journals = plan_backfill(config, start, now_ns, count)
    for tx in txs:
        if stop_event is not None and stop_event.is_set():
            return count  # stopped: the journals would name transactions never sent
        estate.emit_transaction(tx)
        summary.record(tx)
        progress.tick("backfill")
    for journal in journals:
        estate.emit_batch(journal)
        summary.record_batch(journal)
    if config.month_end:
        summary.spans_month_end = monthend.emit_history(config, estate, now_ns)
    return count


def _runs_live(config: SimConfig, stop_event: threading.Event | None) -> bool:
    """A backfill alone ends the run unless a count, a duration or a stop event asks for more."""
    if config.live is not None:
        return config.live
    if config.count is not None:
        return config.count > 0
    return config.duration_s is not None or stop_event is not None or config.backfill_total == 0


class _Live:
    """Paced live traffic: each transaction completes "now", its earlier hops lie behind it."""

    def __init__(self, config: SimConfig, estate: Estate, summary: Summary, progress: _Progress) -> None:
        self.config, self.estate, self.summary, self.progress = config, estate, summary, progress
        self.pending: list[Transaction] = []
        self.next_run = self._run_after(time.time_ns())

    def _run_after(self, now_ns: int) -> int:
        return batch_runs(now_ns, now_ns + 2 * 86400 * SEC, self.config.batch_hour)[0]

    def run(self, seq: int, stop_event: threading.Event | None) -> None:
        config, interval = self.config, 1.0 / self.config.rate
        begun = next_at = time.monotonic()
        deadline = None if config.duration_s is None else begun + config.duration_s
        sent = 0
        stop = stop_event or threading.Event()
        while not stop.is_set() and (config.count is None or sent < config.count):
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            if next_at > now:
                stop.wait(min(next_at, deadline or next_at) - now)
                continue
            self._emit(build_transaction(config, seq + sent))
            sent += 1
            next_at = max(next_at + interval, now - 1.0)  # after a stall, no catch-up burst
            self.progress.tick("live")
        self.summary.batch_pending = len(self.pending)

    def _emit(self, tx: Transaction) -> None:
        now_ns = time.time_ns()
        tx = tx.shifted(now_ns - tx.end_ns)
        self.estate.emit_transaction(tx)
        self.summary.record(tx)
        if tx.fault == "batch_journal":
            self.pending.append(tx)
        if now_ns >= self.next_run:
            self._batch(now_ns)

    def _batch(self, now_ns: int) -> None:
        start = now_ns - _LIVE_BATCH_LAG
        ready = [t for t in self.pending if (t.invoice_end_ns or 0) < start]
        self.pending = [t for t in self.pending if t not in ready]
        for journal in make_batches(self.config, start, ready):
            self.estate.emit_batch(journal)
            self.summary.record_batch(journal)
        self.next_run = self._run_after(now_ns)


def run_simulation(
    config: SimConfig,
    stop_event: threading.Event | None = None,
    *,
    out: TextIO | None = sys.stderr,
    exporter_factory: ExporterFactory = otlp_exporter,
) -> Summary:
    """Backfill (if configured), then live traffic until count, duration or ``stop_event``.

    Returns once every span is exported or given up on. ``out=None`` silences progress.
    """
    summary = Summary()
    estate = Estate(config, exporter_factory)
    progress = _Progress(config, estate, summary, out)
    try:
        now_ns = config.now_ns or time.time_ns()
        seq = _backfill(config, estate, summary, progress, now_ns, stop_event)
        if _runs_live(config, stop_event):
            if seq and out is not None:  # what the history holds, before live traffic adds to it
                injected = summary.format(config).split("\n", 1)[1]
                print(f"simulate: backfill of {summary.transactions} transactions\n{injected}", file=out, flush=True)
            first = seq if config.live_first_seq is None else config.live_first_seq
            progress.tick("live")  # starts the live phase's rate
            _Live(config, estate, summary, progress).run(first, stop_event)
    finally:
        estate.shutdown()
        summary.spans_emitted = estate.spans_emitted
        summary.spans_sent, summary.spans_failed = estate.sent, estate.failed
        summary.details.update({f"cause:{k}": n for k, n in estate.planter.planted.items() if n})
        summary.elapsed_s = time.monotonic() - progress.started
    progress.tick(progress.phase or "done", force=True)
    return summary
