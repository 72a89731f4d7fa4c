"""Pure, seeded scenario generation: transactions, their hops, times and faults. No I/O.

A transaction is built on a relative clock (its first hop starts at 0) from a generator
seeded by ``(seed, seq)`` alone, so the same seed gives the same transactions whatever
else is generated; it is then placed on the wall clock (:func:`place`). Invoices routed
to the nightly batch are gathered into :class:`BatchJournal` hops by :func:`make_batches`.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from ledgerline.simulator.config import FAULT_KINDS, SimConfig
from ledgerline.simulator.flows import build_flow_transaction, draw_flow
from ledgerline.simulator.model import (
    ENTITIES,
    FX,
    HOUR,
    MIN,
    SEC,
    BatchJournal,
    Builder,
    PlannedHop,
    Transaction,
    billing_currency,
    dur,
    run_tag,
)


def draw_fault(rng: random.Random, config: SimConfig) -> str | None:
    """At most one fault kind, each with its configured probability."""
    u, edge = rng.random(), 0.0
    for kind in FAULT_KINDS:
        edge += config.rate_of(kind)
        if u < edge:
            return kind
    return None


def _mismatch(rng: random.Random, amount: float, currency: str) -> tuple[str, float, str]:
    """A changed (amount, currency) and where it appears."""
    where = rng.choice(("invoice_amount", "ledger_amount", "ledger_currency"))
    if where == "ledger_currency":
        other = rng.choice([c for c in FX if c != currency])
        return where, round(amount / FX[currency] * FX[other], 2), other
    delta = max(0.01, round(amount * rng.uniform(0.005, 0.08), 2)) * rng.choice((-1, 1))
    return where, round(amount + delta, 2), currency


def build_transaction(config: SimConfig, seq: int) -> Transaction:
    """Transaction ``seq`` of the seeded scenario, on a relative clock starting at 0."""
    if config.flow_mix:
        flow = draw_flow(config, seq)
        if flow != config.flow:
            return build_flow_transaction(config, seq, flow)
    rng = random.Random(f"{config.seed}:{seq}")
    tag = run_tag(config.seed)
    correlation = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    region, entity, book = rng.choice(ENTITIES)
    currency = billing_currency(config.seed, str(seq), region, book)
    amount = round(rng.uniform(5, 2500), 2)
    fault = draw_fault(rng, config)
    ids = {k: f"{p}-{tag}-{seq:06d}" for k, p in (("case", "CASE"), ("credit", "CR"), ("invoice", "INV"))}
    b = Builder(rng, region, entity)
    detail = ""
    missing = rng.choice(("credit", "invoice", "ledger")) if fault == "missing_hop" else ""
    if fault == "missing_hop":
        detail = f"no {missing}"
    changed = _mismatch(rng, amount, currency) if fault == "amount_mismatch" else None
    if changed:
        detail = changed[0]
    inv_amount = changed[1] if changed and changed[0] == "invoice_amount" else amount
    led_amount, led_currency = (
        (changed[1], changed[2]) if changed and changed[0] != "invoice_amount" else (inv_amount, currency)
    )

    case = b.add(0, dur(rng), system="support", entity_type="case", entity_id=ids["case"], step="case.opened")
    if missing == "credit":
        return _finish(config, seq, correlation, fault, detail, b, currency, amount, ids["invoice"])
    credit = b.add(
        b.end(case) + rng.randint(2, 30) * MIN,
        dur(rng),
        system="middleware",
        entity_type="credit",
        entity_id=ids["credit"],
        step="credit.approved",
        parent_type="case",
        parent_ids=(ids["case"],),
        amount=amount,
        currency=currency,
        upstream=case,
        via="http",
    )
    if missing == "invoice":
        return _finish(config, seq, correlation, fault, detail, b, currency, amount, ids["invoice"])
    tax = fault == "tax_error"
    invoice = b.add(
        b.end(credit) + rng.randint(60, 900) * SEC,
        dur(rng),
        system="billing",
        entity_type="invoice",
        entity_id=ids["invoice"],
        step="invoice.issued",
        parent_type="credit",
        parent_ids=(ids["credit"],),
        amount=inv_amount,
        currency=currency,
        outcome="dead_letter" if tax else "ok",
        category="tax_error" if tax else None,
        upstream=credit,
    )
    if not (tax or missing or fault == "batch_journal"):
        ledger = {
            "system": "erp",
            "entity_type": "ledger",
            "entity_id": f"JE-{tag}-{seq:06d}",
            "step": "ledger.posted",
            "parent_type": "invoice",
            "parent_ids": (ids["invoice"],),
            "amount": led_amount,
            "currency": led_currency,
            "idempotency_key": f"post:{ids['invoice']}",
            "upstream": invoice,
        }
        _post(config, rng, b, fault, b.end(invoice), ledger)
    return _finish(config, seq, correlation, fault, detail, b, currency, amount, ids["invoice"])


def _post(
    config: SimConfig,
    rng: random.Random,
    b: Builder,
    fault: str | None,
    after: int,
    ledger: dict[str, object],
) -> None:
    """The ERP posting(s) of one invoice, shaped by the fault."""
    at = after + rng.randint(5, 600) * SEC
    if fault == "late_posting":
        at = after + int(config.sla_s * SEC) + rng.randint(10, 8 * 60) * MIN
    if fault == "erp_outage":  # ERP down: attempts back off 30 s, 60 s, 120 s, ... then succeed
        for attempt in range(rng.randint(1, 4)):
            first = b.add(at, dur(rng, 1000, 5000), outcome="retry", category="erp_unavailable", **ledger)
            at = b.end(first) + (30 << attempt) * SEC + rng.randint(0, 5000) * 1_000_000
    if fault == "unmatched_account":
        b.add(at, dur(rng), outcome="dead_letter", category="unmatched_account", **ledger)
        return
    posted = b.add(at, dur(rng), **ledger)
    if fault == "duplicate_posting":  # redelivered message; a second journal entry, same key
        again = dict(ledger, entity_id=f"{ledger['entity_id']}-2")
        b.add(b.end(posted) + rng.randint(30, 1200) * SEC, dur(rng), **again)


def _finish(
    config: SimConfig,
    seq: int,
    correlation: str,
    fault: str | None,
    detail: str,
    b: Builder,
    currency: str,
    amount: float,
    invoice_id: str,
) -> Transaction:
    return Transaction(
        seq=seq,
        correlation_id=correlation,
        fault=fault,
        detail=detail,
        region=b.region,
        legal_entity=b.entity,
        currency=currency,
        amount=amount,
        invoice_id=invoice_id,
        hops=tuple(b.hops),
    )


# -- placing transactions on the wall clock -------------------------------------------------
# The nightly job starts a few minutes before its hour and is done by it, so a run at the
# end of a backfill window stays inside it; invoices it posts are issued before it starts.
_BATCH_LEAD = 4 * MIN
_BATCH_GAP = 10 * MIN


def batch_runs(start_ns: int, end_ns: int, hour: int) -> list[int]:
    """Nightly batch times (``hour``:00 UTC) in ``(start_ns, end_ns]``."""
    day = datetime.fromtimestamp(start_ns / SEC, UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    runs: list[int] = []
    while (t := int(day.timestamp()) * SEC) <= end_ns:
        if t > start_ns:
            runs.append(t)
        day += timedelta(days=1)
    return runs


def place(tx: Transaction, rng: random.Random, start_ns: int, end_ns: int, runs: list[int]) -> Transaction:
    """Shift a relative transaction into ``[start_ns, end_ns]``.

    Batch invoices land in the three hours before a batch run that they fit before, so
    the batch posts them within the posting SLA. A transaction longer than the window
    starts at the window's start.
    """
    length = tx.end_ns - tx.start_ns
    if tx.fault == "batch_journal" and tx.invoice_end_ns is not None:
        lead = tx.invoice_end_ns
        fits = [r for r in runs if r - start_ns >= lead + _BATCH_GAP] or [end_ns]
        run = rng.choice(fits)
        low = max(start_ns + lead, run - 3 * HOUR)
        return tx.shifted(rng.randint(low, max(low, run - _BATCH_GAP)) - lead)
    return tx.shifted(rng.randint(start_ns, max(start_ns, end_ns - length)))


def plan_backfill(
    config: SimConfig, start_ns: int, end_ns: int, count: int, first_seq: int = 0
) -> tuple[list[Transaction], list[BatchJournal]]:
    """``count`` transactions placed in ``[start_ns, end_ns]``, and the batch journals posting them."""
    runs = batch_runs(start_ns, end_ns, config.batch_hour)
    txs = [
        place(
            build_transaction(config, seq),
            random.Random(f"{config.seed}:place:{seq}"),
            start_ns,
            end_ns,
            runs,
        )
        for seq in range(first_seq, first_seq + count)
    ]
    txs.sort(key=lambda t: (t.start_ns, t.seq))
    batched = [t for t in txs if t.fault == "batch_journal"]
    fallback = end_ns
    due: dict[int, list[Transaction]] = defaultdict(list)
    for tx in batched:  # each invoice goes to the first run after it was issued
        end = tx.invoice_end_ns or tx.end_ns
        due[next((r for r in runs if r >= end), fallback)].append(tx)
    journals = [j for run, group in sorted(due.items()) for j in make_batches(config, run - _BATCH_LEAD, group)]
    return txs, journals


def make_batches(config: SimConfig, start_ns: int, txs: Iterable[Transaction]) -> list[BatchJournal]:
    """One journal per legal entity posting the transactions' invoices, from ``start_ns`` on.

    The journals end within 40 seconds of ``start_ns``.
    """
    by_entity: dict[tuple[str, str], list[Transaction]] = defaultdict(list)
    for tx in txs:  # one journal per entity and currency (an entity's foreign invoices apart)
        by_entity[(tx.legal_entity, tx.currency)].append(tx)
    tag = run_tag(config.seed)
    day = datetime.fromtimestamp(start_ns / SEC, UTC).strftime("%Y%m%d%H%M")
    book = {e: c for _, e, c in ENTITIES}
    journals: list[BatchJournal] = []
    for index, ((entity, currency), group) in enumerate(sorted(by_entity.items())):
        name = entity if currency == book.get(entity, currency) else f"{entity}-{currency}"
        rng = random.Random(f"{config.seed}:batch:{start_ns}:{name}")
        start = start_ns + index * 2 * SEC
        region = group[0].region
        invoice_ids = tuple(t.invoice_id for t in group)
        hop = PlannedHop(
            system="erp",
            entity_type="ledger",
            entity_id=f"JE-{tag}-B{day}-{name}",
            step="ledger.posted",
            start_ns=start,
            end_ns=start + rng.randint(2_000, 30_000) * 1_000_000,
            parent_type="invoice",
            parent_ids=invoice_ids,
            amount=round(sum(t.amount for t in group), 2),
            currency=currency,
            idempotency_key=f"batch:{day}:{name}",
        )
        journals.append(
            BatchJournal(
                correlation_id=f"batch-{tag}-{day}-{name}",
                hop=hop,
                region=region,
                legal_entity=entity,
                invoice_seqs=tuple(t.seq for t in group),
            )
        )
    return journals


def fault_counts(txs: Iterable[Transaction]) -> Counter[str]:
    """Transactions per fault kind."""
    return Counter(t.fault for t in txs if t.fault)
