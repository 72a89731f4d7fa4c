"""Planted causes: faults with a known cause from a point in time, so that "why?"
(``ledgerline explain``) has something true to find in a simulation and the demo.

A cause hits one step of the transactions of one legal entity, region or currency (or of one
service) from ``since_s`` seconds before the run's "now" on: a share of its attempts fail first
(a failed attempt with an error category before the one that succeeds), or it takes ``slower``
times as long. A cause with a ``version`` is a deploy: from its start every hop of its
``system`` runs that ``service.version`` (the emitted spans' resource attribute; the stable
versions are ``model.SERVICE_VERSIONS``), and the hops it hits fail first. Unlike the
per-transaction faults of :mod:`ledgerline.simulator.config`, which are spread evenly over every
transaction and all time, a cause is concentrated in one segment and starts at a known moment:
what ``explain`` should name at rank 1, with its change point near ``since_s``.

Causes are applied to placed transactions just before they are emitted (``Planter.apply``, one
hook in :class:`ledgerline.simulator.emit.Estate`); seeded per transaction and hop, so the same
seed plants the same faults. Pure, no I/O.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ledgerline.simulator.model import SEC, PlannedHop, Transaction


@dataclass(frozen=True)
class Cause:
    """One planted cause: which hops it hits, from when, and what it does to them."""

    name: str
    step: str  # the step it hits, e.g. ledger.posted
    since_s: float  # it starts this long before the run's "now"
    legal_entity: str = ""  # "": any
    region: str = ""  # "": any
    currency: str = ""  # "": any (the hop's currency)
    system: str = ""  # "": any; for a deploy, the service that runs ``version``
    version: str = ""  # a deploy: ``system`` runs this service.version from the start
    fail_rate: float = 0.0  # share of hit hops whose first attempt fails
    category: str = "erp_unavailable"  # the failed attempt's error category
    slower: float = 1.0  # hit hops take this many times as long

    def __post_init__(self) -> None:
        if not 0 <= self.fail_rate <= 1 or self.slower < 1 or self.since_s < 0:
            raise ValueError(f"cause {self.name}: fail_rate in [0, 1], slower >= 1 and since_s >= 0")
        if self.version and not self.system:
            raise ValueError(f"cause {self.name}: a deploy (version) names the system that runs it")

    def hits(self, tx: Transaction, hop: PlannedHop, start_ns: int) -> bool:
        """Does this cause hit ``hop`` of ``tx`` (once it has started at ``start_ns``)?"""
        return (
            hop.step == self.step
            and hop.outcome == "ok"
            and hop.start_ns >= start_ns
            and self.legal_entity in ("", tx.legal_entity)
            and self.region in ("", tx.region)
            and self.currency in ("", hop.currency or tx.currency)
            and self.system in ("", hop.system)
        )


# The demo's causes: ERP postings of the German entity start failing three hours before "now"
# (an ERP outage for one legal entity; its sibling in eu-west keeps posting), and billing for the
# French entity runs eight times slower from five hours before.
DEMO_CAUSES: tuple[Cause, ...] = (
    Cause("erp_outage:LL-DE-GmbH", "ledger.posted", 3 * 3600, legal_entity="LL-DE-GmbH", fail_rate=0.7),
    Cause("billing_slow:LL-FR-SAS", "invoice.issued", 5 * 3600, legal_entity="LL-FR-SAS", slower=8.0),
)
# More causes, one per simulation (they hit the same step, so together they would share the blame):
# an ERP outage of a whole region (eu-west: both its legal entities), a bad deploy (the ERP's
# 5.5.0 fails most postings from four hours ago), and a rejected currency (every GBP posting
# fails first from six hours ago, whichever entity books it).
REGION_OUTAGE = Cause("erp_outage:eu-west", "ledger.posted", 3 * 3600, region="eu-west", fail_rate=0.7)
BAD_DEPLOY = Cause("bad_deploy:erp-5.5.0", "ledger.posted", 4 * 3600, system="erp", version="5.5.0", fail_rate=0.6)
REJECTED_CURRENCY = Cause("rejected:GBP", "ledger.posted", 6 * 3600, currency="GBP", fail_rate=1.0, category="rejected")
CAUSES: dict[str, tuple[Cause, ...]] = {
    "demo": DEMO_CAUSES,
    "region_outage": (REGION_OUTAGE,),
    "bad_deploy": (BAD_DEPLOY,),
    "rejected_currency": (REJECTED_CURRENCY,),
}

_RETRY_BEFORE = 90 * SEC  # the failed attempt ends this long before the one that succeeds


class Planter:
    """Applies causes to transactions of one run whose "now" is ``now_ns``; counts what it hit."""

    def __init__(self, causes: Sequence[Cause], seed: int, now_ns: int) -> None:
        self.causes = [(c, now_ns - int(c.since_s * SEC)) for c in causes]
        self.seed = seed
        self.planted: Counter[str] = Counter()  # transactions hit per cause

    def apply(self, tx: Transaction) -> Transaction:
        """``tx`` with the causes' effects (unchanged when none hits it)."""
        if not self.causes:
            return tx
        hops = [self.deployed(h) for h in tx.hops]
        for cause, start_ns in self.causes:
            hit = False
            for i, hop in enumerate(tx.hops):
                if not cause.hits(tx, hop, start_ns):
                    continue
                rng = random.Random(f"{self.seed}:cause:{cause.name}:{tx.seq}:{i}")
                if cause.slower > 1:
                    hops[i] = replace(hops[i], end_ns=hop.start_ns + int((hop.end_ns - hop.start_ns) * cause.slower))
                    hit = True
                if cause.fail_rate and rng.random() < cause.fail_rate:
                    took = hop.end_ns - hop.start_ns
                    end = hop.start_ns - _RETRY_BEFORE
                    failed = replace(hops[i], start_ns=end - took, end_ns=end, outcome="retry", category=cause.category)
                    hops.append(failed)
                    hit = True
            self.planted[cause.name] += hit
        return replace(tx, hops=tuple(hops)) if hops != list(tx.hops) else tx

    def deployed(self, hop: PlannedHop) -> PlannedHop:
        """``hop`` running the version a deploy put on its system by then (unchanged if none)."""
        for cause, start_ns in self.causes:
            if cause.version and cause.system == hop.system and hop.start_ns >= start_ns:
                return replace(hop, version=cause.version)
        return hop
