"""The transactions the end-to-end tests check, built through the real SDK and collector."""

from __future__ import annotations

from dataclasses import dataclass

from tests.lineage.helpers import HOUR, MIN, Emitter, complete_txn, now_ns


@dataclass
class World:
    """Anchor times of the scenarios (epoch ns)."""

    t0: int
    batch_size: int


def build(em: Emitter, batch_size: int = 8) -> World:
    """Emit every scenario; spans of some arrive out of order."""
    t0 = now_ns() - 10 * HOUR
    posted = complete_txn(em, "C-OK", t0, n="OK")
    # A reconciliation in its own transaction, tied to C-OK only by a span link.
    em.hop("C-LINK", "recon", "REC-1", "recon.matched", t0 + 3 * HOUR, system="blackline", flow="", links=[posted])
    _retried(em, t0)
    _dead_letter(em, t0)
    complete_txn(em, "C-LATE", t0, n="LATE", ledger_delay=6 * HOUR)  # ledger SLA is 4h
    _batch(em, t0, batch_size)
    _missing(em, t0)
    _duplicate(em, t0)
    complete_txn(em, "C-AMT", t0, n="AMT", ledger_amount=(102.0, "USD"))
    _out_of_order(em, t0)
    _stuck_and_flying(em, t0)
    em.wait()
    return World(t0=t0, batch_size=batch_size)


def _retried(em: Emitter, t0: int) -> None:
    complete_txn(em, "C-RETRY", t0, n="RETRY", ledger_delay=2 * HOUR)
    inv = t0 + 50 * MIN
    em.hop(
        "C-RETRY",
        "ledger",
        "LED-RETRY",
        "ledger.posted",
        inv + 10 * MIN,
        system="sap",
        outcome="retry",
        category="erp_unavailable",
        parent=("invoice", "INV-RETRY"),
        idem="post-INV-RETRY",
    )
    em.hop(
        "C-RETRY",
        "ledger",
        "LED-RETRY",
        "ledger.posted",
        inv + 40 * MIN,
        system="sap",
        outcome="failed",
        category="timeout",
        parent=("invoice", "INV-RETRY"),
        idem="post-INV-RETRY",
    )


def _dead_letter(em: Emitter, t0: int) -> None:
    em.hop("C-DLQ", "case", "CASE-DLQ", "case.opened", t0, system="zendesk")
    em.hop(
        "C-DLQ",
        "credit",
        "CR-DLQ",
        "credit.approved",
        t0 + 20 * MIN,
        system="billing",
        parent=("case", "CASE-DLQ"),
        amount=50.0,
        currency="EUR",
    )
    em.hop(
        "C-DLQ",
        "invoice",
        "INV-DLQ",
        "invoice.issued",
        t0 + 40 * MIN,
        system="billing",
        parent=("credit", "CR-DLQ"),
        amount=50.0,
        currency="EUR",
    )
    for i, outcome in enumerate(("failed", "dead_letter")):
        em.hop(
            "C-DLQ",
            "ledger",
            "LED-DLQ",
            "ledger.posted",
            t0 + (60 + 10 * i) * MIN,
            system="sap",
            outcome=outcome,
            category="tax_error",
            parent=("invoice", "INV-DLQ"),
            region="apac",
        )


def _batch(em: Emitter, t0: int, size: int) -> None:
    """``size`` transactions whose invoices one journal (its own correlation ID) posts."""
    invoices = []
    for i in range(size):
        cid = f"C-B{i}"
        em.hop(cid, "case", f"CASE-B{i}", "case.opened", t0, system="zendesk")
        em.hop(
            cid, "credit", f"CR-B{i}", "credit.approved", t0 + 10 * MIN, system="billing", parent=("case", f"CASE-B{i}")
        )
        invoices.append(
            em.hop(
                cid,
                "invoice",
                f"INV-B{i}",
                "invoice.issued",
                t0 + (20 + i) * MIN,
                system="billing",
                parent=("credit", f"CR-B{i}"),
            )
        )
    em.hop(
        "J-1",
        "ledger",
        "JNL-1",
        "ledger.posted",
        t0 + 2 * HOUR,
        system="sap",
        flow="erp_journal",
        parent=("invoice", [f"INV-B{i}" for i in range(size)]),
        links=invoices[:1],
    )


def _missing(em: Emitter, t0: int) -> None:
    em.hop("C-MISS", "case", "CASE-MISS", "case.opened", t0, system="zendesk")
    em.hop(
        "C-MISS", "invoice", "INV-MISS", "invoice.issued", t0 + 30 * MIN, system="billing", parent=("case", "CASE-MISS")
    )
    em.hop("C-MISS", "ledger", "LED-MISS", "ledger.posted", t0 + 60 * MIN, system="sap", parent=("invoice", "INV-MISS"))


def _duplicate(em: Emitter, t0: int) -> None:
    complete_txn(em, "C-DUP", t0, n="DUP")
    em.hop(
        "C-DUP",
        "ledger",
        "LED-DUP-2",
        "ledger.posted",
        t0 + 3 * HOUR,
        system="sap",
        parent=("invoice", "INV-DUP"),
        amount=120.0,
        currency="EUR",
        idem="post-INV-DUP",
    )


def _out_of_order(em: Emitter, t0: int) -> None:
    """C-OOO: spans arrive newest first (timestamps are fine). C-ORD: invoice before credit."""
    em.hop("C-OOO", "ledger", "LED-OOO", "ledger.posted", t0 + 90 * MIN, parent=("invoice", "INV-OOO"))
    em.hop("C-OOO", "invoice", "INV-OOO", "invoice.issued", t0 + 60 * MIN, parent=("credit", "CR-OOO"))
    em.hop("C-OOO", "credit", "CR-OOO", "credit.approved", t0 + 30 * MIN, parent=("case", "CASE-OOO"))
    em.hop("C-OOO", "case", "CASE-OOO", "case.opened", t0)
    em.hop("C-ORD", "case", "CASE-ORD", "case.opened", t0)
    em.hop("C-ORD", "invoice", "INV-ORD", "invoice.issued", t0 + 20 * MIN, parent=("case", "CASE-ORD"))
    em.hop("C-ORD", "credit", "CR-ORD", "credit.approved", t0 + 40 * MIN, parent=("case", "CASE-ORD"))
    em.hop("C-ORD", "ledger", "LED-ORD", "ledger.posted", t0 + 60 * MIN, parent=("invoice", "INV-ORD"))


def _stuck_and_flying(em: Emitter, t0: int) -> None:
    em.hop("C-STUCK", "case", "CASE-STUCK", "case.opened", t0, system="zendesk", region="amer")
    em.hop("C-STUCK", "credit", "CR-STUCK", "credit.approved", t0 + 10 * MIN, parent=("case", "CASE-STUCK"))
    em.hop("C-STUCK", "invoice", "INV-STUCK", "invoice.issued", t0 + 20 * MIN, parent=("credit", "CR-STUCK"))
    now = now_ns()
    em.hop("C-FLY", "case", "CASE-FLY", "case.opened", now - 30 * MIN, system="zendesk")
