"""The simulator's model: planned hops, transactions and batch journals, the legal entities it
simulates, and the small builder every flow's generator uses. Pure, no I/O."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

SEC = 1_000_000_000
MIN = 60 * SEC
HOUR = 60 * MIN

# (region, legal entity, book currency)
ENTITIES: tuple[tuple[str, str, str], ...] = (
    ("eu-west", "LL-DE-GmbH", "EUR"),
    ("eu-west", "LL-FR-SAS", "EUR"),
    ("us-east", "LL-US-Inc", "USD"),
    ("uk-south", "LL-UK-Ltd", "GBP"),
    ("nordics", "LL-SE-AB", "SEK"),
)
FX = {"EUR": 1.0, "USD": 1.08, "GBP": 0.85, "SEK": 11.4}  # per EUR; only used to fake a re-booking
# eu-west's entities also bill UK and US customers in their currency (a share of their
# transactions): so a currency is not just another name for a region in the simulation, and "why?"
# can tell a region's outage from its currency, and a rejected currency from its home region.
FOREIGN_SHARE = 0.2
FOREIGN = {"eu-west": ("GBP", "USD")}
# Each simulated service's stable service.version (a bad deploy runs another from its start).
SERVICE_VERSIONS = {"support": "3.2.0", "middleware": "1.14.2", "billing": "2.7.1", "erp": "5.4.0", "crm": "1.3.0"}


def billing_currency(seed: int, key: str, region: str, book: str) -> str:
    """The currency transaction ``key`` bills in: usually its entity's book currency; for a share of
    eu-west's, a foreign one (drawn apart from the transaction's own draws, which stay the same)."""
    rng = random.Random(f"{seed}:currency:{key}")
    foreign = FOREIGN.get(region, ())
    return rng.choice(foreign) if foreign and rng.random() < FOREIGN_SHARE else book


@dataclass(frozen=True)
class PlannedHop:
    """One hop to emit. ``upstream`` is the index of the hop whose headers it receives."""

    system: str
    entity_type: str
    entity_id: str
    step: str
    start_ns: int
    end_ns: int
    parent_type: str | None = None
    parent_ids: tuple[str, ...] = ()
    outcome: str = "ok"
    category: str | None = None
    amount: float | None = None
    currency: str | None = None
    idempotency_key: str | None = None
    upstream: int | None = None
    via: str = "message"  # how the upstream headers arrive: "http" or "message"
    compensates: str | None = None  # "type:id" this hop reverses (biz.compensates)
    version: str = ""  # the service.version that runs it ("": its system's stable one)

    def shifted(self, delta_ns: int) -> PlannedHop:
        """The same hop ``delta_ns`` later."""
        return replace(self, start_ns=self.start_ns + delta_ns, end_ns=self.end_ns + delta_ns)

    @property
    def service_version(self) -> str:
        """The service.version of the system that runs it."""
        return self.version or SERVICE_VERSIONS.get(self.system, "")


@dataclass(frozen=True)
class Transaction:
    """One support_credit business transaction: case -> credit -> invoice -> ledger."""

    seq: int
    correlation_id: str
    fault: str | None
    detail: str  # which variant of the fault, e.g. the missing step
    region: str
    legal_entity: str
    currency: str
    amount: float
    invoice_id: str
    hops: tuple[PlannedHop, ...]
    flow: str = ""  # "": the configured main flow (support_credit)

    @property
    def start_ns(self) -> int:
        """When the first hop starts."""
        return min(h.start_ns for h in self.hops)

    @property
    def end_ns(self) -> int:
        """When the last hop ends."""
        return max(h.end_ns for h in self.hops)

    @property
    def invoice_end_ns(self) -> int | None:
        """When invoice.issued ended, if it did."""
        return next((h.end_ns for h in self.hops if h.step == "invoice.issued"), None)

    def shifted(self, delta_ns: int) -> Transaction:
        """The same transaction ``delta_ns`` later."""
        return replace(self, hops=tuple(h.shifted(delta_ns) for h in self.hops))


@dataclass(frozen=True)
class BatchJournal:
    """A nightly journal posting many invoices of one legal entity: one fan-in ledger hop."""

    correlation_id: str
    hop: PlannedHop
    region: str
    legal_entity: str
    invoice_seqs: tuple[int, ...]


def run_tag(seed: int) -> str:
    """Four hex digits from the seed, so two seeds' business IDs do not collide."""
    return f"{random.Random(f'tag:{seed}').getrandbits(16):04X}"


def dur(rng: random.Random, low_ms: int = 40, high_ms: int = 900) -> int:
    return rng.randint(low_ms, high_ms) * 1_000_000


class Builder:
    """Appends hops on a relative clock."""

    def __init__(self, rng: random.Random, region: str, entity: str) -> None:
        self.rng, self.region, self.entity = rng, region, entity
        self.hops: list[PlannedHop] = []

    def add(self, start_ns: int, duration_ns: int, **fields: object) -> int:
        self.hops.append(PlannedHop(start_ns=start_ns, end_ns=start_ns + duration_ns, **fields))  # type: ignore[arg-type]
        return len(self.hops) - 1

    def end(self, index: int) -> int:
        return self.hops[index].end_ns
