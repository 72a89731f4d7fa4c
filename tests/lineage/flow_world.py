"""A hand-built estate with known answers for KPIs, waiting queues, reconciliations and
compensations (window: the day starting at T0). Every number the tests assert is derived
in the comments next to the hops that produce it."""

from __future__ import annotations

from collector.store import Store
from tests.lineage.flow_helpers import DAY, HOUR, MIN, T0, Spans

WINDOW = {"since_ms": T0, "until_ms": T0 + DAY}


def build(store: Store) -> dict[str, tuple[str, str]]:
    """Write the world; return span ids a test re-delivers."""
    s = Spans()
    ids: dict[str, tuple[str, str]] = {}

    def order(n: str, at: int, amount: float, currency: str = "EUR", le: str = "LE-1") -> None:
        s.add(
            f"O{n}",
            f"order:O-{n}",
            "order.booked",
            at,
            system="crm",
            amount=amount,
            currency=currency,
            legal_entity=le,
        )

    def invoice(
        n: str, at: int, amount: float, currency: str = "EUR", order_of: str = "", le: str = "LE-1"
    ) -> tuple[str, str]:
        return s.add(
            f"O{n}",
            f"invoice:INV-{n}",
            "invoice.issued",
            at,
            amount=amount,
            currency=currency,
            legal_entity=le,
            parent=("order", f"O-{order_of}") if order_of else None,
        )

    def post(n: str, inv: str, at: int, amount: float, currency: str = "EUR", le: str = "LE-1") -> tuple[str, str]:
        return s.add(
            f"O{inv}",
            f"ledger:LED-{n}",
            "ledger.posted",
            at,
            system="erp",
            amount=amount,
            currency=currency,
            parent=("invoice", f"INV-{inv}"),
            legal_entity=le,
        )

    # order_to_invoice_cycle (parent match, objective 2h @ 95%): O-1 -> INV-1 1h, O-2 -> INV-2 3h
    # (over target), O-6 -> INV-6 1h: count 3, bad 1, p50 1h.
    order("1", T0 + 1 * HOUR, 100)
    ids["INV-1"] = invoice("1", T0 + 2 * HOUR, 100, order_of="1")
    invoice("1", T0 + 2 * HOUR + MIN, 100, order_of="1")  # a retried success: counted once
    ids["LED-1"] = post("1", "1", T0 + 3 * HOUR, 100)  # INV-1 / LED-1: matched
    order("2", T0 + 1 * HOUR, 200)
    invoice("2", T0 + 4 * HOUR, 200, order_of="2")
    post("2", "2", T0 + 5 * HOUR, 190)  # amount_mismatch, difference -10
    # Waiting at billing: O-3 (50 EUR, oldest, T0+2h) and O-4 (70 USD, LE-2); O-5 was cancelled.
    order("3", T0 + 2 * HOUR, 50)
    order("4", T0 + 3 * HOUR, 70, "USD", le="LE-2")
    order("5", T0 + 2 * HOUR, 30)
    s.add("O5", "order:O-5", "order.cancelled", T0 + 2 * HOUR + 10 * MIN, system="crm", outcome="compensated")
    # Waiting at posting: INV-6 (300 EUR); a left_only break.
    order("6", T0 + 1 * HOUR, 300)
    invoice("6", T0 + 2 * HOUR, 300, order_of="6")
    # INV-7 posted, the posting reversed, posted again: matched, compensated, not a duplicate.
    invoice("7", T0 + 2 * HOUR, 400)
    post("7", "7", T0 + 3 * HOUR, 400)
    ids["REV-7"] = s.add(
        "O7",
        "ledger:REV-7",
        "ledger.reversed",
        T0 + 6 * HOUR,
        system="erp",
        amount=400,
        compensates="ledger:LED-7",
        parent=("invoice", "INV-7"),
    )
    post("7B", "7", T0 + 7 * HOUR, 400)
    # INV-8 posted twice (a duplicate posting): amount_mismatch, difference +500.
    invoice("8", T0 + 2 * HOUR, 500)
    post("8", "8", T0 + 3 * HOUR, 500)
    post("8B", "8", T0 + 3 * HOUR + MIN, 500)
    # INV-9 cancelled before posting: compensated, not a break and not waiting.
    invoice("9", T0 + 2 * HOUR, 250)
    s.add("O9", "invoice:INV-9", "invoice.cancelled", T0 + 3 * HOUR, compensates="INV-9")
    # A posting of an invoice billing never issued: right_only 80.
    post("X", "X", T0 + 8 * HOUR, 80)
    # INV-10 posted in another currency: currency_mismatch.
    invoice("10", T0 + 2 * HOUR, 100)
    post("10", "10", T0 + 3 * HOUR, 100, "USD")
    # LE-2: one matched GBP pair.
    invoice("20", T0 + 2 * HOUR, 60, "GBP", le="LE-2")
    post("20", "20", T0 + 3 * HOUR, 60, "GBP", le="LE-2")
    # LE-3: a batch journal posting two invoices (250 CHF for 100 + 150): both matched on presence.
    invoice("40", T0 + 2 * HOUR, 100, "CHF", le="LE-3")
    invoice("41", T0 + 2 * HOUR, 150, "CHF", le="LE-3")
    s.add(
        "J1",
        "ledger:JNL-1",
        "ledger.posted",
        T0 + 3 * HOUR,
        system="erp",
        amount=250,
        currency="CHF",
        parent=("invoice", ["INV-40", "INV-41"]),
        legal_entity="LE-3",
        flow="erp_journal",
    )
    # Issued before the window, posted inside it: outside the window (not right_only).
    invoice("30", T0 - 2 * HOUR, 90)
    post("30", "30", T0 + 1 * HOUR, 90)
    # posting_failure_rate of ledger.posted (order_to_cash hops): LED-1, 2, 7, 7B, 8, 8B, X, 10, 20, 30
    # ok (10; JNL-1 is erp_journal's) and two failed attempts of LED-11: 2 / 12.
    for k in range(2):
        ids[f"F{k}"] = s.add(
            "O11",
            "ledger:LED-11",
            "ledger.posted",
            T0 + 4 * HOUR + k * MIN,
            system="erp",
            outcome="failed",
            parent=("invoice", "INV-11"),
        )

    # payment_sync: PAY-1 applied in the CRM 30m later (matched); PAY-2 never (CRM outage).
    for n, amount in (("1", 100.0), ("2", 200.0)):
        s.add(f"P{n}", f"payment:PAY-{n}", "payment.received", T0 + HOUR, amount=amount, flow="payment_sync")
    s.add(
        "P1",
        "payment:PAY-1",
        "payment.applied",
        T0 + HOUR + 30 * MIN,
        system="crm",
        amount=100.0,
        flow="payment_sync",
    )
    s.add(
        "P2",
        "payment:PAY-2",
        "payment.applied",
        T0 + HOUR + 5 * MIN,
        system="crm",
        outcome="failed",
        flow="payment_sync",
    )
    s.write(store)
    return ids
