"""The planted world of the "why?" tests: three six-hour windows of support_credit
transactions (an invoice issued, posted five minutes later), each with one planted fault: an
ERP outage in one region, a bad deploy (a new ``service.version``), a rejected currency, a
pair (one currency rejected in one region only), a legal entity whose postings grow slower
(``latency``: durations drawn from one distribution, half again slower for LE-2 from the fault),
and a calm window (``calm``: the same draws, no cause at all)."""

from __future__ import annotations

import itertools
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from collector.settings import StoreSettings
from collector.store import Store, open_store
from ledgerline.schema import migrate_all
from lineage.core.service import Lineage
from lineage.core.window import Window
from tests.conftest import start_collector
from tests.lineage.conftest import make_lineage
from tests.lineage.helpers import HOUR, MIN, Emitter, now_ns

_SEQ = itertools.count()
REGIONS = ("emea", "amer", "apac")
HOURS = 6


@dataclass
class Plant:
    """One planted fault: its window, its start, and the money of the window's failed postings
    per value of the planted dimension (planted and background failures alike)."""

    since_ns: int
    fault_ns: int
    failed: dict[str, dict[str, float]] = field(default_factory=dict)  # value -> currency -> failed money

    def window(self) -> Window:
        return Window(self.since_ns // 1_000_000, (self.since_ns + HOURS * HOUR) // 1_000_000, 100)


@dataclass
class World:
    lineage: Lineage
    store: Store
    outage: Plant
    deploy: Plant
    currency: Plant
    pair: Plant
    latency: Plant
    calm: Plant


def _emit(em: Emitter, plant: Plant, rng: random.Random, tag: str, kind: str) -> None:
    """Transactions every 45 s: invoice issued, then posted 5 minutes later (sometimes failing)."""
    for i in range(HOURS * 80):
        t = plant.since_ns + i * 45 * 1_000_000_000
        region = REGIONS[i % 3]
        currency = ("EUR", "USD", "GBP")[(i // 3) % 3]
        version = "2.5.0" if kind == "deploy" and t >= plant.fault_ns and i % 2 else "2.4.1"
        entity = ("LE-1", "LE-2", "LE-3")[(i // 9) % 3]
        slower = 1.6 if kind == "latency" and entity == "LE-2" and t >= plant.fault_ns else 1.0
        drawn = rng.lognormvariate(0, 0.35) * 2 * MIN * slower if kind in ("latency", "calm") else 0.0
        amount = float(rng.randint(50, 5000))
        cid = f"{tag}-{i}"
        em.hop(cid, "invoice", f"{tag}-INV-{i}", "invoice.issued", t, system="billing", region=region,
               amount=amount, currency=currency)  # fmt: skip
        planted = {
            "outage": region == "amer" and t >= plant.fault_ns,
            "deploy": version == "2.5.0",
            "currency": currency == "GBP" and t >= plant.fault_ns,
            "pair": currency == "USD" and region == "apac",
            "latency": False,
            "calm": False,
        }[kind]
        fails = rng.random() < (0.75 if planted else 0.08)
        em.hop(cid, "ledger", f"{tag}-L-{i}", "ledger.posted", t + 5 * MIN, system="erp", region=region,
               outcome="failed" if fails else "ok", category="erp_unavailable" if fails else "",
               parent=("invoice", f"{tag}-INV-{i}"), amount=amount, currency=currency, version=version,
               legal_entity=entity, dur_ns=_duration(kind, version, i, drawn))  # fmt: skip
        if fails and t + 5 * MIN < plant.since_ns + HOURS * HOUR:  # failed postings in the window
            value = {"outage": region, "deploy": version, "currency": currency, "pair": f"{region}/{currency}",
                     "latency": entity, "calm": entity}[kind]  # fmt: skip
            money = plant.failed.setdefault(value, {})
            money[currency] = money.get(currency, 0.0) + amount


def _duration(kind: str, version: str, i: int, drawn: float) -> int:
    """A posting's duration: drawn for the latency windows, by rule in the others."""
    if kind in ("latency", "calm"):
        return int(drawn)
    return (10 + i % 7) * MIN if version == "2.5.0" else (1 + i % 3) * MIN


def build(chdb_path: Path) -> Iterator[World]:
    database = f"explain_{os.getpid()}_{next(_SEQ)}"
    store = open_store(StoreSettings(clickhouse_url=f"chdb://{chdb_path}", clickhouse_database=database))
    migrate_all(store)
    running = start_collector(store)
    em = Emitter(f"http://127.0.0.1:{running.http_port}/v1/traces", store)
    base = (now_ns() - 52 * HOUR) // HOUR * HOUR
    plants = {
        "outage": Plant(base, base + 3 * HOUR),
        "deploy": Plant(base + 10 * HOUR, base + 13 * HOUR),
        "currency": Plant(base + 20 * HOUR, base + 20 * HOUR),
        "pair": Plant(base + 28 * HOUR, base + 28 * HOUR),
        "latency": Plant(base + 38 * HOUR, base + 40 * HOUR),
        "calm": Plant(base + 46 * HOUR, base + 46 * HOUR),
    }
    try:
        rng = random.Random(5)
        for kind, plant in plants.items():
            _emit(em, plant, rng, kind, kind)
            em.wait(60)  # per window: the SDK's queue holds 2048 spans per service
        yield World(make_lineage(store), store, **plants)
    finally:
        em.close()
        running.stop()
        store.command("DROP DATABASE IF EXISTS {db:Identifier}", {"db": database})
