"""Flow questions at a month of data: reconciliation drift and breaks, waiting queues and
KPIs over 30 days of order_to_cash and payment_sync hops.

``python -m bench.flows --per-day 3000`` writes 30 days of orders, invoices, postings
(with reversals, duplicates and missing postings) and payments straight into otel_traces
(the real materialized views derive hops and hop_times), then times each answer as the
API computes it (median of ``--repeat`` runs). ``--json`` prints the figures as JSON.

The failure-rate KPI (``kpi_failure_rate_{hourly,alert_1h,alert_all}_{raw,rollup}_ms``: hourly
buckets over the whole ``--days`` as the KPI API reads them, and the last hour and the whole
``--days`` as a kpi alert rule does) is timed both ways alternately in the same run, after the
whole load is sealed into the per-minute rollup (lineage/core/rollups.py; ``seal_s``): ``raw``
with the rollup's watermark emptied, so every minute is read from hop_times, ``rollup`` with it
back. ``rollup_rows`` and ``rollup_bytes_per_span`` are the rollup's size on disk after merging.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from collector.settings import StoreSettings
from collector.store import Store, open_store
from ledgerline.schema import migrate_all
from lineage.business import kpis, reconcile, waiting
from lineage.core import rollups
from lineage.core.flows import Flow, FlowConfig, load_flows
from lineage.core.scope import EVERYTHING, Scope

DAY_MS = 86_400_000
_COLS = ["Timestamp", "TraceId", "SpanId", "ServiceName", "SpanName", "SpanAttributes", "Duration", "StatusCode"]


def _span(n: int, end_ms: int, system: str, step: str, attrs: dict[str, str], failed: bool = False) -> list[Any]:
    start = datetime.fromtimestamp((end_ms - 500) / 1000, tz=UTC)
    return [start, f"{n:032x}", f"{n:016x}", system, step, attrs, 500_000_000, "Error" if failed else "Ok"]


class _Day:
    """The spans of one simulated day, numbered from ``first``."""

    def __init__(self, first: int) -> None:
        self.rows: list[list[Any]] = []
        self.n = first

    def add(
        self,
        key: str,
        common: dict[str, str],
        t_ms: int,
        hop: tuple[str, str, str, str, str],
        extra: dict[str, str] | None = None,
    ) -> None:
        system, step, etype, eid, flow = hop
        self.n += 1
        attrs = {
            "correlation.id": f"{flow[:3]}-{key}",
            "biz.flow": flow,
            "biz.entity.type": etype,
            "biz.entity.id": eid,
            "biz.step": step,
            "biz.system": system,
            **common,
            **(extra or {}),
        }
        self.rows.append(_span(self.n, t_ms, system, step, attrs, attrs.get("biz.outcome", "ok") != "ok"))


def populate(store: Store, days: int, per_day: int, end_ms: int, seed: int = 1) -> int:
    """Write ``days`` x ``per_day`` orders (and payments) ending at ``end_ms``; return the spans written."""
    rng = random.Random(seed)
    n = 0
    les = [("LL-DE-GmbH", "EUR"), ("LL-US-Inc", "USD"), ("LL-UK-Ltd", "GBP"), ("LL-SE-AB", "SEK")]
    o2c, pay_flow = "order_to_cash", "payment_sync"
    for day in range(days):
        d = _Day(n)
        base = end_ms - (days - day) * DAY_MS
        for i in range(per_day):
            le, cur = rng.choice(les)
            key = f"{day:03d}-{i:05d}"
            t = base + rng.randint(0, DAY_MS - 8 * 3_600_000)
            c = {
                "biz.legal_entity": le,
                "biz.region": "eu",
                "biz.currency": cur,
                "biz.amount": f"{rng.uniform(20, 5000):.2f}",
            }
            d.add(key, c, t, ("crm", "order.booked", "order", f"ORD-{key}", o2c))
            u = rng.random()
            if u < 0.02:
                continue  # awaiting billing
            inv = f"INV-{key}"
            t += rng.randint(5, 60) * 60_000
            d.add(
                key,
                c,
                t,
                ("billing", "invoice.issued", "invoice", inv, o2c),
                {"biz.parent.type": "order", "biz.parent.id": f"ORD-{key}"},
            )
            if u < 0.04:
                continue  # not posted
            parent = {"biz.parent.type": "invoice", "biz.parent.id": inv}
            t += rng.randint(1, 30) * 60_000
            d.add(key, c, t, ("erp", "ledger.posted", "ledger", f"JE-{key}", o2c), parent)
            if u < 0.05:  # a duplicate posting
                d.add(key, c, t + 60_000, ("erp", "ledger.posted", "ledger", f"JE-{key}-2", o2c), parent)
            elif u < 0.08:  # reversed and re-posted
                d.add(
                    key,
                    c,
                    t + 3_600_000,
                    ("erp", "ledger.reversed", "ledger", f"REV-{key}", o2c),
                    parent | {"biz.compensates": f"ledger:JE-{key}"},
                )
                d.add(key, c, t + 7_200_000, ("erp", "ledger.posted", "ledger", f"JE-{key}-R", o2c), parent)
            pay = f"PAY-{key}"
            d.add(key, c, t, ("billing", "payment.received", "payment", pay, pay_flow))
            if rng.random() < 0.05:  # the CRM refuses it
                d.add(
                    key,
                    c,
                    t + 60_000,
                    ("crm", "payment.applied", "payment", pay, pay_flow),
                    {"biz.outcome": "retry", "biz.error.category": "service_unavailable"},
                )
                continue
            d.add(key, c, t + 120_000, ("crm", "payment.applied", "payment", pay, pay_flow))
        store.insert("otel_traces", d.rows, _COLS)
        n = d.n
    return n


def _time(fn: Callable[[], Any], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(runs), 1)


def _failure_rate_reads(
    store: Store, config: FlowConfig, flow: Flow, since: int, until: int
) -> dict[str, Callable[[], Any]]:
    """The failure-rate KPI as the API (hourly buckets over the whole ``--days``) and a kpi alert
    rule (the last hour; the whole ``--days``) read it."""
    rate = flow.kpi_named("posting_failure_rate")
    assert rate is not None
    now = until - 12_345  # an alert's window: not aligned on minutes
    return {
        "hourly": lambda: kpis.series(
            store, config, EVERYTHING, flow, rate, since_ms=since, until_ms=until, bucket_ms=3_600_000, limit=10_000
        ),
        "alert_1h": lambda: kpis.window_totals(
            store, config, EVERYTHING, flow, rate, since_ms=now - 3_600_000, until_ms=now
        ),
        "alert_all": lambda: kpis.window_totals(store, config, EVERYTHING, flow, rate, since_ms=since, until_ms=now),
    }


_WATERMARK_OFF = "TRUNCATE TABLE hop_rollup_watermark"
_WATERMARK_ON = "INSERT INTO hop_rollup_watermark SELECT 0, max(Covers) FROM hop_rollup"


def _rollup_figures(
    store: Store, config: FlowConfig, flow: Flow, since: int, until: int, repeat: int
) -> dict[str, Any]:
    """Failure rates read raw and from the rollup, alternately in the same run (raw: the watermark
    emptied, so no minute is served, as before the rollup was sealed); the answers must be equal."""
    reads = _failure_rate_reads(store, config, flow, since, until)
    t = time.perf_counter()
    rollups.seal(store, margin_ms=0)
    out: dict[str, Any] = {"seal_s": round(time.perf_counter() - t, 2)}
    store.command("OPTIMIZE TABLE hop_rollup FINAL")
    runs: dict[str, list[float]] = {f"{name}_{mode}": [] for name in reads for mode in ("raw", "rollup")}
    answers: dict[str, list[Any]] = {name: [] for name in reads}
    for _ in range(repeat):
        for mode in ("raw", "rollup"):
            store.command(_WATERMARK_OFF if mode == "raw" else _WATERMARK_ON)
            for name, read in reads.items():
                started = time.perf_counter()
                answers[name].append(read())
                runs[f"{name}_{mode}"].append((time.perf_counter() - started) * 1000)
    for name, got in answers.items():
        assert all(a == got[0] for a in got), f"the rollup changed the {name} answer"
    out |= {f"kpi_failure_rate_{key}_ms": round(statistics.median(v), 1) for key, v in runs.items()}
    ((rows, size),) = store.query(
        "SELECT sum(rows), sum(bytes_on_disk) FROM system.parts WHERE database = currentDatabase()"
        " AND table IN ('hop_rollup', 'hop_rollup_dirty', 'hop_rollup_watermark') AND active"
    )
    out["rollup_rows"] = int(rows)
    out["rollup_bytes"] = int(size)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    store = open_store(StoreSettings(clickhouse_url=f"chdb://{tempfile.mkdtemp()}", clickhouse_database="flows"))
    migrate_all(store)
    store.command(rollups.STOP_SEAL)  # sealed once, when the bench says so (the raw figures first)
    end = int(time.time() * 1000) // DAY_MS * DAY_MS
    t = time.perf_counter()
    spans = populate(store, args.days, args.per_day, end)
    load_s = time.perf_counter() - t
    config = load_flows()
    since, until = end - args.days * DAY_MS, end
    w = {"since_ms": since, "until_ms": until}
    rec = config.reconciliations["invoice_to_ledger"]
    o2c = config.flows["order_to_cash"]
    scoped = Scope(legal_entities=("LL-DE-GmbH",))
    cycle = o2c.kpi_named("order_to_invoice_cycle")
    assert cycle is not None
    figures: dict[str, Any] = {
        "spans": spans,
        "hops_per_second_loaded": round(spans / load_s),
        "recon_drift_daily_by_le_ms": _time(
            lambda: reconcile.summary(
                store, config, EVERYTHING, rec, bucket_ms=DAY_MS, by_legal_entity=True, limit=5000, **w
            ),
            args.repeat,
        ),
        "recon_drift_scoped_ms": _time(
            lambda: reconcile.summary(
                store, config, scoped, rec, bucket_ms=DAY_MS, by_legal_entity=True, limit=5000, **w
            ),
            args.repeat,
        ),
        "recon_breaks_ms": _time(
            lambda: reconcile.breaks(store, config, EVERYTHING, rec, kind="", limit=1000, **w), args.repeat
        ),
        "waiting_order_to_cash_ms": _time(
            lambda: waiting.waiting(store, config, EVERYTHING, o2c, now_ms=end, limit=100, **w), args.repeat
        ),
        "kpi_order_to_invoice_daily_ms": _time(
            lambda: kpis.series(store, config, EVERYTHING, o2c, cycle, bucket_ms=DAY_MS, **w), args.repeat
        ),
    }
    figures |= _rollup_figures(store, config, o2c, since, until, args.repeat)
    figures["rollup_bytes_per_span"] = round(figures["rollup_bytes"] / spans, 3)
    drift = reconcile.summary(store, config, EVERYTHING, rec, bucket_ms=DAY_MS, by_legal_entity=True, limit=5000, **w)
    figures["recon_rows"] = len(drift["buckets"])
    figures["recon_breaks"] = sum(b["break_count"] for b in drift["buckets"])
    print(json.dumps(figures) if args.json else "\n".join(f"{k:<34} {v}" for k, v in figures.items()))
    return figures


if __name__ == "__main__":
    main()
