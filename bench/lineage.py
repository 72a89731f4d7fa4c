"""Lineage benchmark: load N spans (N/4 business hops) into an embedded store, then time
the lineage queries over many random IDs and print p50/p95 per query, then the same
transaction lookup through the API app with and without a credential (bench/lineage_api.py).

    .venv/bin/python -m bench.lineage --spans 10000000 [--growth [--first-spans 1000000]] [--json]

Spans are generated inside ClickHouse (INSERT ... SELECT FROM numbers()), so loading goes
through the same materialized views as real ingest (hops, entity_edges, hop_keys, ...).
Each transaction: case -> credit -> invoice -> ledger hops; each hop span has three
technical child spans (HTTP/DB) without business attributes. Transactions are spread
evenly over --days ending now; 1% dead-letter their posting (tax_error), 5% have a failed
posting attempt (timeout) followed by a successful retry, 2% have a failed posting with
no retry yet. Queries start once the load's background merges are done (at most 2 minutes'
wait). After the queries it prints the bytes on disk per span of every table in the bench
database (active parts as loaded, not forced to merge).

``--growth`` measures how the cost grows with history, in one run: it loads the newest
``--first-spans`` spans first (the last slice of the final history, at the full size's
density of --spans/--days), measures every query, then loads the older spans (history
grows backwards in time, so windows ending now hold the same data where the slice covers
them) and measures again; it prints p95 at both sizes and their ratio. There the 10k-invoice
journal posts the invoices of the newest slice's oldest transactions, and the plain lookups
leave the journal's transactions out (at both sizes), so both sizes do the same work.

``--scrape`` times ``GET /metrics/business`` instead (bench/business_scrape.py).

``--lookup`` times only the transaction lookup with stitching, before and after issue 27 read its
first stitching step, edges and withheld count in one query, interleaved, unrestricted and
scoped, with the store queries per lookup and each query's planning time (bench/lineage_lookup.py).

``--explain`` times only ``GET /api/v1/explain`` over 24 hours (failed and slow, every step and
the ledger stage), before and after issue 25 computed only the dimensions each pass uses,
interleaved, and checks both answer the same (bench/lineage_explain.py).

``--fat N`` (with ``--fat-hops M``) times the transaction listing instead, over N transactions of
M hops each in the last hour on top of the --spans background (bench/lineage_fat.py).

``--json`` ends the output with one JSON object on the last line, with the keys:

* ``queries``: query name (as printed) -> ``{"runs", "p50_ms", "p95_ms", "queries"}``, at the full
  size (``queries``: store queries per call, the mean over the timed calls);
* ``lookup_before_after``: ``{"before", "after", "before_scoped", "after_scoped"}`` ->
  ``{"p50_ms", "p95_ms", "queries_per_lookup"}``, ``after_breakdown_ms`` (query name, or "outside
  the store" -> mean ms per lookup) and ``{before,after}_planning_ms`` (query name -> ``{"n",
  "query_ms", "plan_ms"}``: each query run again as is and as ``EXPLAIN PLAN``), the transaction
  lookup with its withheld count, first stitching step and edges as separate queries and as
  shipped, interleaved on the same random transactions (bench/lineage_lookup.py);
* ``bytes_per_span``: bytes on disk of all tables of the bench database (active parts)
  divided by the rows of ``otel_traces``; ``tables_bytes_per_span``: the same per table;
* ``scope``, ``api``: the scope and credential overhead (p50/p95 ms per caller);
* ``spans``, ``hops``, ``load_s``;
* with ``--lookup`` instead: ``lookup_before_after`` (as above), ``spans``, ``hops``, ``load_s``;
* with ``--explain`` instead: ``explain`` (case -> ``{"runs", "before", "after", "same_answer", "differ_in"}``,
  before/after ``{"p50_ms", "p95_ms"}``), ``load_average`` (1, 5, 15 minutes, at the end),
  ``spans``, ``hops``, ``load_s``;
* with ``--scrape`` (bench/business_scrape.py) instead: ``computed``, ``served`` and
  ``served_while_refreshing``, each
  ``{"runs", "p50_ms", "p95_ms", "first_ms"}``, and ``spans``, ``hops``, ``load_s``;
* with ``--growth``: ``growth`` (query name -> p95 at the full size / p95 at the first
  slice), ``queries_1m`` (the first slice's figures, as ``queries``), ``first_spans``,
  ``bytes_per_span_1m``, ``load_s_1m``.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import lineage_api, lineage_lookup
from bench.history import SPANS_PER_TXN, TXN_OF, History, load_journal, load_range
from bench.stats import paired, settle, timed
from collector.store import Store, open_store
from ledgerline.schema import migrate_all
from lineage.business import metrics
from lineage.close.config import parse_close
from lineage.close.service import gate
from lineage.core import domain
from lineage.core.flows import load_flows
from lineage.core.scope import EVERYTHING, Scope
from lineage.core.service import Lineage
from lineage.core.timeparse import to_ms, utcnow
from lineage.core.window import Window
from lineage.explain.service import Question, explain
from lineage.replay.document import replays_of
from lineage.settings import LineageSettings

# Calls before timing a query: ClickHouse compiles an expression on its fourth run
# (min_count_to_compile_expression = 3), a one-time cost that would otherwise land in the
# p95 of the first measurement only (a --growth run's second one finds it compiled).
WARM_UP = 5

_SIZES = """
SELECT table, sum(bytes_on_disk) FROM system.parts WHERE database = {db:String} AND active
GROUP BY table ORDER BY table
"""


def sizes(store: Store, database: str) -> tuple[float, dict[str, float]]:
    """Bytes on disk per span (active parts of every table of ``database`` over the rows of
    ``otel_traces``), in all and per table."""
    spans = max(1, int(store.query("SELECT count() FROM otel_traces")[0][0]))
    tables = {str(t): int(b) / spans for t, b in store.query(_SIZES, {"db": database})}
    return round(sum(tables.values()), 1), {t: round(b, 1) for t, b in tables.items()}


def cases(svc: Lineage, history: History, txn_lo: int, growth: bool) -> list[tuple[str, Callable[[], Any]]]:
    """The timed queries, over the transactions [txn_lo, history.txns) present in the store."""
    flow = svc.config.flow(None)
    txns, jfirst, jn = history.txns, history.journal_first, history.journal_n
    rng = random.Random(7)
    now = to_ms(utcnow())
    day = Window(now - 86400_000, now, 5000)
    week = Window(now - 7 * 86400_000, now, 100)
    this_month = utcnow().strftime("%Y-%m")
    one_le = Scope(legal_entities=("LE-0",))

    def plain() -> int:
        """A random transaction; with ``growth`` never one the journal posts (their share
        differs between the two sizes)."""
        if not growth:
            return rng.randrange(txns)
        txn = rng.randrange(txn_lo, txns - jn)
        return txn + jn if txn >= jfirst else txn

    return [
        ("transaction lookup + stitching", lambda: svc.transaction(EVERYTHING, f"C-{plain()}")),
        (
            "entity -> correlation IDs",
            lambda: svc.store.query(
                "SELECT DISTINCT CorrelationId FROM hop_keys WHERE KeyKind = 'entity' AND KeyType = {t:String} "
                "AND KeyId = {i:String}",
                {"t": "invoice", "i": f"INV-{plain()}"},
            ),
        ),
        ("entity lookup (key -> full doc)", lambda: svc.entity(EVERYTHING, "invoice", f"INV-{plain()}")),
        (
            "lookup: txn posted by 10k-invoice journal",
            lambda: svc.transaction(EVERYTHING, f"C-{jfirst + rng.randrange(jn)}"),
        ),
        ("lookup: the 10k-invoice journal", lambda: svc.transaction(EVERYTHING, "J-BIG")),
        ("posting latency 24h / 5m", lambda: metrics.posting_latency(svc, EVERYTHING, flow, day, 300_000, "")),
        (
            "posting latency 24h / 5m by region",
            lambda: metrics.posting_latency(svc, EVERYTHING, flow, day, 300_000, "region"),
        ),
        (
            "open exceptions (24h window)",
            lambda: svc.exceptions(EVERYTHING, Window(now - 86400_000, now, 100), "open", "", ""),
        ),
        ("open exceptions (7d window)", lambda: svc.exceptions(EVERYTHING, week, "open", "", "")),
        ("open exceptions (7d window), scoped", lambda: svc.exceptions(one_le, week, "open", "", "")),
        ("throughput 24h / 5m", lambda: metrics.throughput(svc, EVERYTHING, flow, day, 300_000, "")),
        ("exception backlog 24h / 5m", lambda: metrics.exception_backlog(svc, EVERYTHING, day, 300_000, 288)),
        (
            "list stuck transactions (24h)",
            lambda: svc.transactions(EVERYTHING, Window(now - 86400_000, now, 100), "stuck", "", "", ""),
        ),
        (
            "list stuck transactions (24h), scoped",
            lambda: svc.transactions(one_le, Window(now - 86400_000, now, 100), "stuck", "", "", ""),
        ),
        ("list stuck transactions (24h), raw", lambda: _raw_stuck(svc, EVERYTHING, now)),
        ("list stuck transactions (24h), scoped, raw", lambda: _raw_stuck(svc, one_le, now)),
        ("close gate, one entity, this month", lambda: gate(svc, CALENDAR, EVERYTHING, "LE-0", this_month)),
        ("explain failed 24h", lambda: explain(svc, EVERYTHING, _question("failed", "", now))),
        ("explain failed 24h, ledger stage", lambda: explain(svc, EVERYTHING, _question("failed", "ledger", now))),
        ("explain slow 24h, ledger stage", lambda: explain(svc, EVERYTHING, _question("slow", "ledger", now))),
    ]


def _raw_stuck(svc: Lineage, scope: Scope, now: int) -> Any:
    """The stuck list as it was computed before the open-transactions index: from every hop of
    the window (``domain.listing``), with the window ``Lineage.transactions`` uses."""
    lookahead = max((f.end_to_end_sla_s or 0) for f in svc.config.flows.values())
    window: dict[str, Any] = {"since_ms": now - 86400_000, "until_ms": now, "now_ms": now, "limit": 100}
    scan_until = now + int(max(lookahead, 86400) * 2000)
    max_rows = svc.settings.query_max_rows
    return domain.listing(
        svc.store, svc.config, scope, scan_until_ms=scan_until, max_rows=max_rows, status="stuck", **window
    )


# The bench's seven legal entities, cut in UTC, for the close gate.
CALENDAR = parse_close(
    "legal_entities: {" + ", ".join(f"LE-{i}: {{time_zone: UTC, currency: EUR}}" for i in range(7)) + "}",
    "bench calendar",
    load_flows(),
)


def _question(subject: str, stage: str, now: int) -> Question:
    return Question(subject, "rest", "support_credit", stage, "", Window(now - 86400_000, now, 100))


def measure(svc: Lineage, history: History, txn_lo: int, runs: int, growth: bool) -> dict[str, dict[str, float]]:
    """Time every query of :func:`cases`; print one line per query; name -> runs, p50, p95."""
    out: dict[str, dict[str, float]] = {}
    counter = lineage_lookup.Counter(svc.store)
    print(f"\n{'query':<42}{'runs':>6}{'p50 ms':>10}{'p95 ms':>10}{'queries':>9}")
    for name, fn in cases(svc, history, txn_lo, growth):
        for _ in range(WARM_UP):
            fn()
        n = runs if ("lookup" in name or "entity" in name) and "journal" not in name else max(10, runs // 10)
        counted = counter.n
        p50, p95 = timed(fn, n)
        per_call = (counter.n - counted) / n
        out[name] = {"runs": n, "p50_ms": round(p50, 2), "p95_ms": round(p95, 2), "queries": round(per_call, 2)}
        print(f"{name:<42}{n:>6}{p50:>10.1f}{p95:>10.1f}{per_call:>9.2f}", flush=True)
    return out


def print_sizes(store: Store, database: str) -> tuple[float, dict[str, float]]:
    """Print bytes on disk per span, in all and per table; return them."""
    total, tables = sizes(store, database)
    print(f"\nbytes on disk per span (active parts, all tables of '{database}'): {total:,.1f}")
    for table, per_span in sorted(tables.items(), key=lambda kv: -kv[1]):
        print(f"  {table:<32}{per_span:>10.1f}")
    return total, tables


def loaded(spans: int, days: float, data_dir: Path, reuse: bool) -> tuple[LineageSettings, Store, float]:
    """The bench store in ``data_dir`` holding the --spans history: loaded now unless ``reuse``
    finds hops there; with the seconds the load took (0 when reused)."""
    settings = LineageSettings(clickhouse_url=f"chdb://{data_dir}", clickhouse_database="bench", query_timeout_s=60)
    store = open_store(settings)
    migrate_all(store)
    seconds = 0.0
    if not (reuse and store.query("SELECT count() FROM hops")[0][0]):
        print(f"loading {spans:,} spans into {data_dir} ...", flush=True)
        history = History.ending_now(spans, days)
        seconds = load_range(store, history, 0, spans)
        load_journal(store, history)
    return settings, store, seconds


def counts(store: Store, database: str) -> tuple[int, int]:
    """Spans and hops stored, once the load's background merges are done (printed if waited for)."""
    waited = settle(store, database)
    if waited > 1:
        print(f"  waited {waited:.0f}s for background merges")
    return int(store.query("SELECT count() FROM otel_traces")[0][0]), int(store.query("SELECT count() FROM hops")[0][0])


def run(
    spans: int,
    days: float,
    runs: int,
    data_dir: Path,
    reuse: bool = False,
    growth: bool = False,
    first_spans: int = 1_000_000,
) -> dict[str, Any]:
    """Load and measure; print one line per query; return the figures (``--json``)."""
    settings = LineageSettings(clickhouse_url=f"chdb://{data_dir}", clickhouse_database="bench", query_timeout_s=60)
    store = open_store(settings)
    migrate_all(store)
    database = settings.clickhouse_database
    out: dict[str, Any] = {"spans": spans}
    if growth:
        # The newest slice first: spans [split, spans), whole transactions, at the full density.
        split = max(0, spans - first_spans) // SPANS_PER_TXN * SPANS_PER_TXN
        history = History.ending_now(spans, days, journal_first=split // SPANS_PER_TXN)
        slice_days = (spans - split) / spans * days
        print(
            f"growth: loading the newest {spans - split:,} of {spans:,} spans ({slice_days:.2f} of {days:g} days) ..."
        )
        seconds = load_range(store, history, split, spans - split)
        load_journal(store, history)
        stored, hops = counts(store, database)
        print(f"loaded in {seconds:.1f}s: {stored:,} spans, {hops:,} hops")
        svc = Lineage(settings, store, load_flows(), replays=replays_of(store))
        first = measure(svc, history, split // SPANS_PER_TXN, runs, growth)
        out |= {"first_spans": spans - split, "queries_1m": first, "load_s_1m": seconds}
        out["bytes_per_span_1m"] = print_sizes(store, database)[0]
        print(f"\ngrowth: loading the older {split:,} spans (history grows backwards in time) ...")
        seconds += load_range(store, history, 0, split)
    elif reuse and store.query("SELECT count() FROM hops")[0][0]:
        print(f"reusing the spans already in {data_dir}")
        seconds = 0.0
        history = History.ending_now(spans, days)
        if not store.query("SELECT count() FROM hops WHERE CorrelationId = 'J-BIG'")[0][0]:
            load_journal(store, history)
    else:
        print(f"loading {spans:,} spans into {data_dir} ...")
        started = time.monotonic()
        history = History.ending_now(spans, days)
        load_range(store, history, 0, spans)
        load_journal(store, history)
        seconds = time.monotonic() - started
    stored, hops = counts(store, database)
    print(f"loaded in {seconds:.1f}s: {stored:,} spans, {hops:,} hops")
    svc = Lineage(settings, store, load_flows(), replays=replays_of(store))
    out |= {"hops": hops, "load_s": seconds}
    out["queries"] = measure(svc, history, 0, runs, growth)
    if growth:
        first_label, full_label = f"p95 @ {out['first_spans']:,}", f"p95 @ {spans:,}"
        print(f"\ngrowth from {out['first_spans']:,} to {spans:,} spans (same density, history grows backwards):")
        print(f"{'query':<42}{first_label:>16}{full_label:>16}{'ratio':>8}")
        out["growth"] = {}
        for name, full in out["queries"].items():
            small = out["queries_1m"][name]["p95_ms"]
            ratio = full["p95_ms"] / small if small else float("nan")
            out["growth"][name] = round(ratio, 3)
            print(f"{name:<42}{small:>16.1f}{full['p95_ms']:>16.1f}{ratio:>8.2f}")
        longer = [name for name, d in (("24h", 1), ("7d", 7)) if d > slice_days] or ["none here"]
        print(
            f"note: the first {out['first_spans']:,} spans hold {slice_days:.2f} days of history; a window longer "
            f"than that ({', '.join(longer)}) holds more data at the full size, so its ratio counts more data in "
            "the window, not only more history around it"
        )
    # Scope overhead: the same transactions of one legal entity (of seven) looked up
    # unrestricted and with a credential limited to that legal entity. Those the journal
    # J-BIG (no legal entity) posts are left out: unrestricted, they stitch to it, scoped not,
    # and the figure would compare different work.
    one_le = Scope(legal_entities=("LE-0",))
    ids = [
        str(r[0])
        for r in store.query(
            "SELECT CorrelationId FROM hops WHERE LegalEntity = 'LE-0' AND Step = 'case.opened' "
            f"AND ({TXN_OF.format(col='CorrelationId')} < {{jf:UInt64}} "
            f"OR {TXN_OF.format(col='CorrelationId')} >= {{jf:UInt64}} + {{jn:UInt64}}) LIMIT 5000",
            {"jf": history.journal_first, "jn": history.journal_n},
        )
    ] or ["C-0"]
    labels = ["unrestricted", "scoped to LE-0 (1 of 7)", "scoped to LE-X: 404"]
    other = Scope(legal_entities=("LE-X",))
    figures = paired(
        [
            lambda c: svc.transaction(EVERYTHING, c),
            lambda c: svc.transaction(one_le, c),
            lambda c: svc.transaction(other, c),
        ],
        ids,
        runs,
    )
    print(f"\ntransaction lookup with stitching, the same LE-0 transactions, {runs} runs each, interleaved:")
    for label, (p50, p95) in zip(labels, figures, strict=True):
        print(f"  {label:<38}{p50:>10.1f}{p95:>10.1f}", flush=True)
    out["scope"] = {label: {"p50_ms": p50, "p95_ms": p95} for label, (p50, p95) in zip(labels, figures, strict=True)}
    out["lookup_before_after"] = before_after(svc, history, runs)
    out["api"] = {}
    for path, api in lineage_api.measure(settings, store, ids, runs, "LE-0", paired).items():
        print("\n" + "\n".join(lineage_api.report(path, api, runs)), flush=True)
        base = api[lineage_api.BASELINE][0]
        out["api"][path] = {k: {"p50_ms": a, "p95_ms": b, "added_p50_ms": a - base} for k, (a, b) in api.items()}
    sample, journal = svc.transaction(EVERYTHING, "C-7"), svc.transaction(EVERYTHING, "J-BIG")
    assert sample is not None and journal is not None
    print(f"\nsample C-7: status={sample['status']}, exceptions={[e['state'] for e in sample['exceptions']]}")
    print(
        f"J-BIG: {len(journal['edges'])} edges shown, {journal['edges_omitted']} left out; "
        f"{len(journal['related'])} related shown, {journal['related_omitted']} left out"
    )
    out["bytes_per_span"], out["tables_bytes_per_span"] = print_sizes(store, database)
    return out


def before_after(svc: Lineage, history: History, runs: int) -> dict[str, dict[str, float]]:
    """The transaction lookup before and after issue 27, interleaved on the random transactions
    "transaction lookup + stitching" draws from (bench/lineage_lookup.py); printed."""
    rng = random.Random(5)
    plain = [f"C-{rng.randrange(history.txns)}" for _ in range(5000)]
    figures = lineage_lookup.compare(svc, lineage_lookup.Counter(svc.store), plain, runs, paired)
    print("\n".join(lineage_lookup.report(figures, runs)), flush=True)
    return figures


def lookup_only(spans: int, days: float, runs: int, data_dir: Path, reuse: bool) -> dict[str, Any]:
    """``--lookup``: only the transaction lookup, before and after (bench/lineage_lookup.py)."""
    settings, store, seconds = loaded(spans, days, data_dir, reuse)
    stored, hops = counts(store, settings.clickhouse_database)
    print(f"{stored:,} spans, {hops:,} hops")
    svc = Lineage(settings, store, load_flows(), replays=replays_of(store))
    figures = before_after(svc, History.ending_now(spans, days), runs)
    return {"spans": stored, "hops": hops, "load_s": seconds, "lookup_before_after": figures}


def main() -> None:
    """Command line: --spans, --days, --runs, --data-dir, --reuse, --growth, --first-spans, --fat, --explain, --json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=10_000_000, help="spans to generate (default 10M)")
    parser.add_argument("--days", type=float, default=7.0, help="days the transactions span")
    parser.add_argument("--runs", type=int, default=200, help="lookups per query (aggregates: runs/10)")
    parser.add_argument("--data-dir", type=Path, default=None, help="chdb directory (default: a temp dir)")
    parser.add_argument("--reuse", action="store_true", help="measure the spans already in --data-dir")
    parser.add_argument(
        "--growth", action="store_true", help="measure at the newest --first-spans spans first, then at --spans"
    )
    parser.add_argument("--first-spans", type=int, default=1_000_000, help="the first size of --growth (default 1M)")
    parser.add_argument("--fat", type=int, default=0, help="time listings over this many fat transactions")
    parser.add_argument("--fat-hops", type=int, default=5000, help="hops per fat transaction (default 5000)")
    parser.add_argument("--scrape", action="store_true", help="time GET /metrics/business only")
    parser.add_argument("--lookup", action="store_true", help="time the transaction lookup before/after only")
    parser.add_argument("--explain", action="store_true", help="time GET /api/v1/explain before/after only")
    parser.add_argument("--json", action="store_true", help="finish with the figures as one JSON line")
    args = parser.parse_args()
    if args.growth and args.reuse:
        parser.error("--growth loads its own history: it cannot --reuse one")
    if args.growth and not SPANS_PER_TXN <= args.first_spans < args.spans:
        parser.error("--growth needs 16 <= --first-spans < --spans")
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="ledgerline-bench-"))
    if args.scrape:
        from bench import business_scrape  # imports this module

        figures = business_scrape.run(args.spans, args.days, max(args.runs, 1), data_dir, args.reuse)
        if args.json:
            print(json.dumps(figures))
        return
    if args.lookup:
        figures = lookup_only(args.spans, args.days, max(args.runs, 1), data_dir, args.reuse)
        if args.json:
            print(json.dumps(figures))
        return
    if args.explain:
        from bench import lineage_explain  # imports this module

        figures = lineage_explain.run(args.spans, args.days, max(args.runs, 1), data_dir, args.reuse)
        if args.json:
            print(json.dumps(figures))
        return
    if args.fat:
        from bench import lineage_fat  # imports this module

        figures = lineage_fat.run(args.spans, args.days, args.runs, data_dir, args.reuse, args.fat, args.fat_hops)
        if args.json:
            print(json.dumps(figures))
        return
    figures = run(args.spans, args.days, args.runs, data_dir, args.reuse, args.growth, args.first_spans)
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
