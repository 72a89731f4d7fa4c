"""Pure, seeded generation of the flows beside support_credit, each with its own faults.

- ``order_to_cash``: order booked in the CRM -> invoice issued in billing -> ledger posted in
  the ERP. ``billing_lag``: the invoice comes 3-6 hours after the order (over the
  order_to_invoice_cycle objective of 2h; detail ``late``) or not yet (detail ``pending``: an
  order awaiting billing). ``posting_reversed``: the ERP reverses the posting
  (``ledger.reversed`` with ``biz.compensates``) and posts it again (detail ``reposted``) or
  billing cancels the invoice too (``invoice.cancelled`` compensating it; detail ``cancelled``).
- ``payment_sync``: payment received in billing -> applied in the CRM (same payment id) ->
  cash applied in the ERP. ``crm_outage``: the CRM refuses 1-3 attempts (retry,
  ``service_unavailable``), then applies the payment (detail ``recovered``) or never does
  (detail ``pending``: a payment not reflected in the CRM).
- ``disputes``: dispute opened in support -> credit approved -> credit memo issued in billing ->
  ledger posted in the ERP.

Every transaction is built on a relative clock from ``(seed, seq)`` alone, like support_credit.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from ledgerline.simulator.config import FAULT_FLOW, FLOW_FAULT_KINDS, SimConfig
from ledgerline.simulator.model import ENTITIES, HOUR, MIN, SEC, Builder, Transaction, billing_currency, dur, run_tag

FLOWS: tuple[str, ...] = ("order_to_cash", "payment_sync", "disputes")
FLOW_FAULTS: dict[str, tuple[str, ...]] = {
    flow: tuple(k for k in FLOW_FAULT_KINDS if FAULT_FLOW[k] == flow) for flow in FLOWS
}


def draw_flow(config: SimConfig, seq: int) -> str:
    """The flow of transaction ``seq``: one of ``config.flow_mix`` by its share, else the main flow."""
    u, edge = random.Random(f"{config.seed}:flow:{seq}").random(), 0.0
    for name in FLOWS:
        edge += float(config.flow_mix.get(name, 0.0))
        if u < edge:
            return name
    return config.flow


def _fault(rng: random.Random, config: SimConfig, flow: str) -> str | None:
    u, edge = rng.random(), 0.0
    for kind in FLOW_FAULTS[flow]:
        edge += float(config.flow_fault_rates.get(kind, 0.0))
        if u < edge:
            return kind
    return None


def build_flow_transaction(config: SimConfig, seq: int, flow: str) -> Transaction:
    """Transaction ``seq`` of ``flow`` on a relative clock starting at 0."""
    rng = random.Random(f"{config.seed}:{flow}:{seq}")
    tag = run_tag(config.seed)
    correlation = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    region, entity, book = rng.choice(ENTITIES)
    currency = billing_currency(config.seed, f"{flow}:{seq}", region, book)
    amount = round(rng.uniform(20, 5000), 2)
    fault = _fault(rng, config, flow)
    b = Builder(rng, region, entity)
    money: dict[str, Any] = {"amount": amount, "currency": currency}
    detail = ""
    key = f"{tag}-{seq:06d}"
    invoice_id = ""
    if flow == "order_to_cash":
        invoice_id = f"INV-{key}"
        detail = _order_to_cash(rng, b, fault, key, money)
    elif flow == "payment_sync":
        detail = _payment_sync(rng, b, fault, key, money)
    else:
        _disputes(rng, b, key, money)
    return Transaction(
        seq=seq,
        correlation_id=correlation,
        fault=fault,
        detail=detail,
        region=region,
        legal_entity=entity,
        currency=currency,
        amount=amount,
        invoice_id=invoice_id,
        hops=tuple(b.hops),
        flow=flow,
    )


def _order_to_cash(rng: random.Random, b: Builder, fault: str | None, key: str, money: dict[str, Any]) -> str:
    order = b.add(0, dur(rng), system="crm", entity_type="order", entity_id=f"ORD-{key}", step="order.booked", **money)
    detail = rng.choice(("late", "pending")) if fault == "billing_lag" else ""
    if detail == "pending":
        return detail
    lag = rng.randint(3 * 60, 6 * 60) * MIN if detail == "late" else rng.randint(5, 60) * MIN
    invoice = b.add(
        b.end(order) + lag,
        dur(rng),
        system="billing",
        entity_type="invoice",
        entity_id=f"INV-{key}",
        step="invoice.issued",
        parent_type="order",
        parent_ids=(f"ORD-{key}",),
        upstream=order,
        **money,
    )
    ledger: dict[str, Any] = {
        "system": "erp",
        "entity_type": "ledger",
        "step": "ledger.posted",
        "parent_type": "invoice",
        "parent_ids": (f"INV-{key}",),
        "upstream": invoice,
        **money,
    }
    posted = b.add(b.end(invoice) + rng.randint(1, 30) * MIN, dur(rng), entity_id=f"JE-{key}", **ledger)
    if fault != "posting_reversed":
        return detail
    detail = rng.choice(("reposted", "cancelled"))
    reversal = b.add(
        b.end(posted) + rng.randint(10, 120) * MIN,
        dur(rng),
        system="erp",
        entity_type="ledger",
        entity_id=f"REV-{key}",
        step="ledger.reversed",
        parent_type="invoice",
        parent_ids=(f"INV-{key}",),
        compensates=f"ledger:JE-{key}",
        upstream=posted,
        **money,
    )
    if detail == "reposted":
        b.add(b.end(reversal) + rng.randint(5, 60) * MIN, dur(rng), entity_id=f"JE-{key}-R", **ledger)
    else:
        b.add(
            b.end(reversal) + rng.randint(5, 60) * MIN,
            dur(rng),
            system="billing",
            entity_type="invoice",
            entity_id=f"INV-{key}",
            step="invoice.cancelled",
            compensates=f"invoice:INV-{key}",
            upstream=reversal,
        )
    return detail


def _payment_sync(rng: random.Random, b: Builder, fault: str | None, key: str, money: dict[str, Any]) -> str:
    pay = {"entity_type": "payment", "entity_id": f"PAY-{key}"}
    received = b.add(0, dur(rng), system="billing", step="payment.received", **pay, **money)
    at = b.end(received) + rng.randint(1, 10) * MIN
    detail = ""
    if fault == "crm_outage":
        detail = rng.choice(("recovered", "pending"))
        for attempt in range(rng.randint(1, 3)):
            failed = b.add(
                at,
                dur(rng, 1000, 5000),
                system="crm",
                step="payment.applied",
                outcome="retry",
                category="service_unavailable",
                upstream=received,
                **pay,
            )
            at = b.end(failed) + (60 << attempt) * SEC
        if detail == "pending":
            return detail
    applied = b.add(at, dur(rng), system="crm", step="payment.applied", upstream=received, **pay, **money)
    b.add(
        b.end(applied) + rng.randint(5, 60) * MIN,
        dur(rng),
        system="erp",
        entity_type="cash",
        entity_id=f"CASH-{key}",
        step="cash.applied",
        parent_type="payment",
        parent_ids=(f"PAY-{key}",),
        upstream=applied,
        **money,
    )
    return detail


def _disputes(rng: random.Random, b: Builder, key: str, money: dict[str, Any]) -> None:
    dispute = b.add(0, dur(rng), system="support", entity_type="dispute", entity_id=f"DSP-{key}", step="dispute.opened")
    credit = b.add(
        b.end(dispute) + rng.randint(30, 6 * 60) * MIN,
        dur(rng),
        system="middleware",
        entity_type="credit",
        entity_id=f"CR-{key}",
        step="credit.approved",
        parent_type="dispute",
        parent_ids=(f"DSP-{key}",),
        upstream=dispute,
        via="http",
        **money,
    )
    memo = b.add(
        b.end(credit) + rng.randint(1, 30) * MIN,
        dur(rng),
        system="billing",
        entity_type="credit_memo",
        entity_id=f"CM-{key}",
        step="credit_memo.issued",
        parent_type="credit",
        parent_ids=(f"CR-{key}",),
        upstream=credit,
        **money,
    )
    b.add(
        b.end(memo) + rng.randint(1, 2 * 60) * MIN,
        dur(rng),
        system="erp",
        entity_type="ledger",
        entity_id=f"JE-{key}",
        step="ledger.posted",
        parent_type="credit_memo",
        parent_ids=(f"CM-{key}",),
        upstream=memo,
        **money,
    )


__all__ = ["FLOWS", "FLOW_FAULTS", "HOUR", "build_flow_transaction", "draw_flow"]
