"""Simulation settings: traffic shape, where to send, and the rate of each fault kind."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from ledgerline.simulator.causes import Cause

# Each transaction carries at most one fault, drawn with these probabilities.
FAULT_KINDS: tuple[str, ...] = (
    "erp_outage",  # ERP postings retry with backoff (retry/erp_unavailable), then succeed
    "tax_error",  # billing dead-letters the invoice (dead_letter/tax_error); never posted
    "unmatched_account",  # the ERP dead-letters the posting (dead_letter/unmatched_account)
    "late_posting",  # ledger.posted more than the posting SLA after invoice.issued
    "batch_journal",  # the invoice is posted by the nightly batch journal (fan-in)
    "missing_hop",  # a downstream hop never arrives: the transaction is stuck
    "duplicate_posting",  # the invoice is posted twice under one idempotency key
    "amount_mismatch",  # the amount or the currency changes between hops
)

DEFAULT_FAULT_RATES: Mapping[str, float] = {
    "erp_outage": 0.04,
    "tax_error": 0.02,
    "unmatched_account": 0.02,
    "late_posting": 0.03,
    "batch_journal": 0.08,
    "missing_hop": 0.02,
    "duplicate_posting": 0.01,
    "amount_mismatch": 0.02,
}

# Faults of the flows beside support_credit (ledgerline/simulator/flows.py), drawn per
# transaction of the flow they belong to.
FLOW_FAULT_KINDS: tuple[str, ...] = (
    "billing_lag",  # order_to_cash: the invoice comes 3-6h late, or not yet (an order awaiting billing)
    "posting_reversed",  # order_to_cash: the ERP reverses the posting, then re-posts or billing cancels
    "crm_outage",  # payment_sync: the CRM refuses attempts; the payment is applied later or never
)
FAULT_FLOW: Mapping[str, str] = {
    "billing_lag": "order_to_cash",
    "posting_reversed": "order_to_cash",
    "crm_outage": "payment_sync",
}
DEFAULT_FLOW_FAULT_RATES: Mapping[str, float] = {"billing_lag": 0.08, "posting_reversed": 0.04, "crm_outage": 0.08}
# The share of each flow in a mixed run (the rest is support_credit), e.g. for the demo.
DEMO_FLOW_MIX: Mapping[str, float] = {"order_to_cash": 0.3, "payment_sync": 0.2, "disputes": 0.15}

DEFAULT_HTTP_ENDPOINT = "http://127.0.0.1:4318/v1/traces"
DEFAULT_GRPC_ENDPOINT = "127.0.0.1:4317"
# The collector's own variable: the simulator sends the first of its comma-separated tokens.
TOKEN_ENV = "LEDGERLINE_INGEST_TOKENS"
DEFAULT_BACKFILL_CAP = 5000


@dataclass(frozen=True)
class SimConfig:
    """What to simulate and where to send it. Times are seconds unless named ``_ns``."""

    seed: int = 42
    rate: float = 5.0  # live transactions per second
    count: int | None = None  # live transactions to send; None: until duration or stop
    duration_s: float | None = None  # live phase length; None: until count or stop
    backfill_s: float = 0.0  # history window ending now; 0: no backfill
    backfill_count: int | None = None  # default: rate x window, at most DEFAULT_BACKFILL_CAP
    endpoint: str | None = None  # default by protocol
    protocol: str = "http"
    token: str | None = None  # default: the first of $LEDGERLINE_INGEST_TOKENS
    fault_rates: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_FAULT_RATES))
    flow: str = "support_credit"
    batch_flow: str = "erp_journal"  # the nightly journals are transactions of their own flow
    sla_s: float = 4 * 3600  # posting SLA, invoice.issued -> ledger.posted
    batch_hour: int = 2  # UTC hour of the nightly batch journal
    progress_every_s: float = 5.0
    now_ns: int | None = None  # pins "now" (tests, reproducible backfills)
    flush_every_spans: int = 2000  # backpressure: flush the exporters this often
    live: bool | None = None  # live phase after the backfill; None: see runner._runs_live
    # First sequence number (so IDs) of live traffic; None: right after the backfill's. The demo
    # starts it at the current epoch millisecond, so a restart never reuses an earlier run's IDs.
    live_first_seq: int | None = None
    month_end: bool = False  # the backfill also crosses the last month end (simulator/monthend.py)

    flow_mix: Mapping[str, float] = field(default_factory=dict)  # share per other flow; empty: support_credit only
    flow_fault_rates: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_FLOW_FAULT_RATES))
    causes: tuple[Cause, ...] = ()  # planted causes (ledgerline/simulator/causes.py), e.g. DEMO_CAUSES

    def __post_init__(self) -> None:
        unknown = set(self.fault_rates) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kind(s) {sorted(unknown)}; known: {', '.join(FAULT_KINDS)}")
        if any(not 0 <= r <= 1 for r in self.fault_rates.values()):
            raise ValueError("fault rates must lie in [0, 1]")
        if sum(self.fault_rates.values()) > 1 + 1e-9:
            raise ValueError("fault rates add up to more than 1 (a transaction carries one fault at most)")
        unknown_flows = set(self.flow_mix) - {"order_to_cash", "payment_sync", "disputes"}
        if unknown_flows:
            raise ValueError(f"unknown flow(s) {sorted(unknown_flows)}; known: order_to_cash, payment_sync, disputes")
        if any(r < 0 for r in self.flow_mix.values()) or sum(self.flow_mix.values()) > 1 + 1e-9:
            raise ValueError("flow shares must be non-negative and add up to 1 at most")
        unknown = set(self.flow_fault_rates) - set(FLOW_FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown flow fault kind(s) {sorted(unknown)}; known: {', '.join(FLOW_FAULT_KINDS)}")
        if any(not 0 <= r <= 1 for r in self.flow_fault_rates.values()):
            raise ValueError("flow fault rates must lie in [0, 1]")
        if self.protocol not in ("http", "grpc"):
            raise ValueError(f"protocol must be http or grpc, not {self.protocol!r}")
        if self.rate <= 0:
            raise ValueError("rate must be positive")
        if not 0 <= self.batch_hour < 24:
            raise ValueError("batch hour must lie in 0..23")

    def rate_of(self, kind: str) -> float:
        """The configured rate of one fault kind (0 when not given)."""
        return float(self.fault_rates.get(kind, 0.0))

    @property
    def target(self) -> str:
        """The collector endpoint: URL for OTLP/HTTP, host:port (or URL) for gRPC."""
        if self.endpoint:
            return self.endpoint
        return DEFAULT_HTTP_ENDPOINT if self.protocol == "http" else DEFAULT_GRPC_ENDPOINT

    @property
    def bearer(self) -> str | None:
        """The ingest token, from the config or the first of the collector's tokens in the environment."""
        first = os.environ.get(TOKEN_ENV, "").split(",")[0].strip()
        return self.token or first or None

    @property
    def backfill_total(self) -> int:
        """Transactions in the backfill window."""
        if self.backfill_s <= 0:
            return 0
        if self.backfill_count is not None:
            return self.backfill_count
        return max(1, min(DEFAULT_BACKFILL_CAP, round(self.rate * self.backfill_s)))
