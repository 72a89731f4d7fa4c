"""The per-minute hop rollup against the raw hops: generated hops with duplicate deliveries,
hops days late, compensations and replays, sealed in between; every figure the rollup holds and
the failure-rate KPI it serves must equal a recomputation from what was sent."""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
import textwrap
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.store import Store
from lineage.business import kpis
from lineage.core import rollups
from lineage.core.flows import FlowConfig, load_flows
from lineage.core.scope import EVERYTHING, Scope
from tests.lineage.flow_helpers import DAY, MIN, T0, Spans
from tests.processes import LEDGERLINE, ledgerline_env

STEPS = ("ledger.posted", "invoice.issued")
FLOWS = ("order_to_cash", "payment_sync")
_DAYS = itertools.count(1)


def _hop(draw: Any, n: int) -> dict[str, Any]:
    outcome = draw(st.sampled_from(("ok", "ok", "failed", "retried", "compensated")))
    return {
        "entity": f"invoice:E{draw(st.integers(0, 5))}",
        "step": draw(st.sampled_from((*STEPS, STEPS[0]))),  # mostly the step the failure-rate KPI reads
        "at": draw(st.integers(0, 9 * MIN + 59_999)),  # ms into the example's ten minutes
        "outcome": outcome,
        "compensates": draw(st.sampled_from(("", "", "", "invoice:E1"))) if outcome != "compensated" else "",
        "amount": draw(st.one_of(st.none(), st.decimals("-500", "500", places=2, allow_nan=False))),
        "currency": draw(st.sampled_from(("EUR", "USD"))),
        "legal_entity": draw(st.sampled_from(("LE-1", "LE-2"))),
        "region": draw(st.sampled_from(("emea", "apac"))),
        "system": draw(st.sampled_from(("erp", "billing"))),
        "flow": draw(st.sampled_from((*FLOWS, FLOWS[0]))),
        "ids": (f"{n:032x}", f"{n:016x}"),
    }


@st.composite
def deliveries(draw: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Hops delivered before a seal, and after it: duplicates of earlier spans, late hops in sealed
    minutes, replays (a failed attempt, then the success of the same entity and step)."""
    first = [_hop(draw, n) for n in range(draw(st.integers(1, 12)))]
    later = [dict(h) for h in draw(st.lists(st.sampled_from(first), max_size=4))]  # duplicates
    later += [_hop(draw, 100 + n) for n in range(draw(st.integers(0, 5)))]  # late or new
    for n, h in enumerate(draw(st.lists(st.sampled_from(first), max_size=3))):  # replays
        if h["outcome"] != "ok":
            later.append(h | {"outcome": "ok", "at": min(h["at"] + MIN, 9 * MIN), "ids": (f"{200 + n:032x}",) * 2})
    return first, later


def _write(store: Store, base: int, hops: list[dict[str, Any]]) -> None:
    spans = Spans()
    for h in hops:
        spans.add(
            f"c-{h['entity']}",
            h["entity"],
            h["step"],
            base + h["at"],
            system=h["system"],
            outcome=h["outcome"],
            amount=None if h["amount"] is None else float(h["amount"]),
            currency=h["currency"],
            legal_entity=h["legal_entity"],
            region=h["region"],
            flow=h["flow"],
            compensates=h["compensates"],
            ids=(f"{base:013x}{h['ids'][0][13:]}", h["ids"][1]),
        )
    spans.write(store)


def _distinct(hops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list({h["ids"]: h for h in hops}.values())


def _expected_rows(base: int, hops: list[dict[str, Any]]) -> dict[tuple[Any, ...], tuple[int, int, Decimal]]:
    """The rollup rows the hops sent must give: (minute, step, flow, ..., compensation) -> figures."""
    rows: dict[tuple[Any, ...], list[Any]] = defaultdict(lambda: [0, 0, Decimal(0)])
    for h in _distinct(hops):
        compensation = int(bool(h["compensates"]) or h["outcome"] == "compensated")
        minute = (base + h["at"]) // MIN * MIN
        currency = h["currency"] if h["amount"] is not None else ""
        key = (minute, h["step"], h["flow"], h["system"], h["region"], h["legal_entity"], h["outcome"], currency)
        row = rows[(*key, compensation)]
        row[0] += 1
        if h["amount"] is not None:
            row[1] += 1
            row[2] += h["amount"]
    return {k: (v[0], v[1], v[2]) for k, v in rows.items()}


def _stored_rows(store: Store, base: int) -> dict[tuple[Any, ...], tuple[int, int, Decimal]]:
    rows = store.query(
        "SELECT toUnixTimestamp64Milli(toDateTime64(Minute, 3)), toString(Step), toString(Flow), toString(System),"
        " toString(Region), toString(LegalEntity), toString(Outcome), toString(Currency), Compensation,"
        " Hops, Amounts, Amount FROM hop_rollup FINAL"
        " WHERE Minute >= fromUnixTimestamp64Milli({a:Int64}) AND Minute < fromUnixTimestamp64Milli({b:Int64})"
        " AND Hops > 0",
        {"a": base, "b": base + 10 * MIN},
    )
    return {tuple(r[:9]): (int(r[9]), int(r[10]), Decimal(r[11])) for r in rows}


def _failure_rates(
    store: Store, config: FlowConfig, base: int, scope: Scope, since: int, bucket: int
) -> set[tuple[int, str, int, int]]:
    flow = config.flows["order_to_cash"]
    kpi = flow.kpi_named("posting_failure_rate")
    assert kpi is not None
    points, truncated = kpis.series(
        store,
        config,
        scope,
        flow,
        kpi,
        since_ms=base + since,
        until_ms=base + 10 * MIN - 1,
        bucket_ms=bucket,
        group_by="legal_entity",
    )
    assert not truncated
    return {(p.bucket_ms, p.group, p.count, p.bad) for p in points}


def _expected_rates(
    hops: list[dict[str, Any]], base: int, scope: Scope, since: int, bucket: int
) -> set[tuple[int, str, int, int]]:
    counts: Counter[tuple[int, str]] = Counter()
    bad: Counter[tuple[int, str]] = Counter()
    for h in _distinct(hops):
        end = base + h["at"]
        if (
            h["step"] != "ledger.posted"
            or h["flow"] != "order_to_cash"
            or h["compensates"]
            or h["outcome"] == "compensated"
            or not base + since <= end < base + 10 * MIN - 1
            or (scope.legal_entities and h["legal_entity"] not in scope.legal_entities)
        ):
            continue
        key = (end // bucket * bucket, h["legal_entity"])
        counts[key] += 1
        bad[key] += h["outcome"] not in ("ok", "compensated")
    return {(b, g, n, bad[(b, g)]) for (b, g), n in counts.items()}


CASES = [(EVERYTHING, 0, MIN), (Scope(legal_entities=("LE-2",)), 30_000, 2 * MIN), (EVERYTHING, 0, 5 * MIN)]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deliveries())
def test_rollup_equals_raw_under_duplicates_late_hops_compensations_and_replays(
    lineage_store: Store, case: tuple[list[dict[str, Any]], list[dict[str, Any]]]
) -> None:
    store, config = lineage_store, load_flows()
    first, later = case
    base = T0 + next(_DAYS) * DAY  # each example in a day of its own
    _write(store, base, first)
    rollups.seal(store, margin_ms=0)
    assert _stored_rows(store, base) == _expected_rows(base, first)
    _write(store, base, later)  # the sealed minutes are now marked: readers take them raw
    every = first + later
    for scope, since, bucket in CASES:
        assert _failure_rates(store, config, base, scope, since, bucket) == _expected_rates(
            every, base, scope, since, bucket
        )
    rollups.seal(store, margin_ms=0)
    assert _stored_rows(store, base) == _expected_rows(base, every)
    report = rollups.verify(store, base, base + 10 * MIN)
    assert report.first is None and report.pending == 0 and report.covered > 0, report
    for scope, since, bucket in CASES:
        assert _failure_rates(store, config, base, scope, since, bucket) == _expected_rates(
            every, base, scope, since, bucket
        )


def _tamper(store: Store, base: int) -> None:
    """One rollup row of the window claims a hop more than was stored."""
    store.command(
        "INSERT INTO hop_rollup SELECT * REPLACE (Hops + 1 AS Hops, Sealed + 1 AS Sealed) FROM hop_rollup FINAL"
        " WHERE Minute = fromUnixTimestamp64Milli({m:Int64}) AND Step = 'ledger.posted' LIMIT 1",
        {"m": base + 2 * MIN},
    )


def _one_posting(store: Store, base: int) -> None:
    hop = {
        "entity": "invoice:X",
        "step": "ledger.posted",
        "at": 2 * MIN + 5,
        "outcome": "failed",
        "compensates": "",
        "amount": Decimal("0.1"),
        "currency": "EUR",
        "legal_entity": "LE-1",
        "region": "emea",
        "system": "erp",
        "flow": "order_to_cash",
        "ids": ("a" * 32, "b" * 16),
    }
    _write(store, base, [hop, hop | {"ids": ("c" * 32, "d" * 16), "amount": Decimal("0.2"), "outcome": "ok"}])


def test_the_kpi_reads_covered_minutes_from_the_rollup_and_verify_names_a_difference(lineage_store: Store) -> None:
    store, config = lineage_store, load_flows()
    base = T0 + 500 * DAY
    _one_posting(store, base)
    before = _failure_rates(store, config, base, EVERYTHING, 0, 10 * MIN)
    assert {(n, bad) for _, _, n, bad in before} == {(2, 1)}
    rollups.seal(store, margin_ms=0)
    assert _stored_rows(store, base)[
        (base + 2 * MIN, "ledger.posted", "order_to_cash", "erp", "emea", "LE-1", "ok", "EUR", 0)
    ] == (
        1,
        1,
        Decimal("0.2"),
    )
    assert _failure_rates(store, config, base, EVERYTHING, 0, 10 * MIN) == before
    _tamper(store, base)
    # the answer changed: the minute was read from the rollup; verify names the row
    assert _failure_rates(store, config, base, EVERYTHING, 0, 10 * MIN) != before
    report = rollups.verify(store, base, base + 10 * MIN)
    assert report.mismatches == 1 and report.first is not None
    assert report.first.minute_ms == base + 2 * MIN and report.first.key["Flow"] == "order_to_cash"
    assert report.first.rollup is not None and report.first.raw is not None
    assert report.first.rollup["hops"] == report.first.raw["hops"] + 1


def test_a_late_hop_is_read_raw_until_its_minute_is_sealed_again(lineage_store: Store) -> None:
    store, config = lineage_store, load_flows()
    base = T0 + 700 * DAY
    _one_posting(store, base)
    rollups.seal(store, margin_ms=0)
    sealed = _failure_rates(store, config, base, EVERYTHING, 0, MIN)
    assert sealed == {(base + 2 * MIN, "LE-1", 2, 1)}
    late = {
        "entity": "invoice:L",
        "step": "ledger.posted",
        "at": 4 * MIN + 5,  # a minute with nothing sealed in it, in the middle of the window
        "outcome": "failed",
        "compensates": "",
        "amount": None,
        "currency": "",
        "legal_entity": "LE-1",
        "region": "emea",
        "system": "erp",
        "flow": "order_to_cash",
        "ids": ("e" * 32, "f" * 16),
    }
    _write(store, base, [late, late | {"at": 2 * MIN + 7, "ids": ("9" * 32, "8" * 16)}])  # and one in a sealed minute
    want = {(base + 2 * MIN, "LE-1", 3, 2), (base + 4 * MIN, "LE-1", 1, 1)}
    assert _failure_rates(store, config, base, EVERYTHING, 0, MIN) == want
    assert rollups.verify(store, base, base + 10 * MIN).pending == 2
    rollups.seal(store, margin_ms=0)
    assert _failure_rates(store, config, base, EVERYTHING, 0, MIN) == want
    report = rollups.verify(store, base, base + 10 * MIN)
    assert (report.covered, report.pending, report.first) == (2, 0, None)


def test_verify_rollups_cli_exit_codes(tmp_path: Path) -> None:
    # its own data directory, written in a process of its own (one chdb path per process)
    script = textwrap.dedent(f"""
        from pathlib import Path
        from collector.store import StoreSettings, open_store
        from ledgerline.schema import migrate_all
        from lineage.core import rollups
        from tests.lineage.test_rollups import _one_posting, _tamper
        from lineage.core.timeparse import to_ms, utcnow
        store = open_store(StoreSettings(data_dir=Path({str(tmp_path)!r})))
        migrate_all(store)
        base = to_ms(utcnow()) // 60000 * 60000 - 3 * 3600_000
        _one_posting(store, base)
        rollups.seal(store, margin_ms=0)
        if {{tamper}}:
            _tamper(store, base)
        store.close()
    """)
    for tamper, code in ((False, 0), (True, 1)):
        out = write_and_verify(tmp_path, script.replace("{tamper}", str(tamper)))
        assert out.returncode == code, out.stdout + out.stderr
        if tamper:
            assert out.stdout.startswith("FAILED rollups: 1 row(s) differ; first: flow 'order_to_cash', minute ")
            assert "'hops': 2" in out.stdout and "'hops': 1" in out.stdout
        else:
            assert out.stdout.startswith("OK rollups: 1 covered minute(s) recomputed"), out.stdout


def write_and_verify(data_dir: Path, script: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (it writes the store in ``data_dir``) in a process of its own (one chdb path
    per process), then ``ledgerline verify --rollups --since 1d`` over that store."""
    env = ledgerline_env(data_dir)
    made = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert made.returncode == 0, made.stderr[-2000:]
    verify = [*LEDGERLINE, "verify", "--rollups", "--since", "1d"]
    return subprocess.run(verify, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(
    ("args", "store", "says"),
    [
        (["--rollups", "--store"], False, "give a pack file, --store or --rollups"),
        (["--rollups", "--since", "yesterday-ish"], False, "yesterday-ish"),
        (["--rollups"], True, "this store has no rollup yet: run `ledgerline migrate`"),  # a store never migrated
        (["--rollups"], False, "no store at "),  # a data directory with none: nothing created there
    ],
)
def test_verify_rollups_usage(tmp_path: Path, args: list[str], store: bool, says: str) -> None:
    if store:
        (tmp_path / "clickhouse").mkdir()
    out = subprocess.run(
        [*LEDGERLINE, "verify", *args], env=ledgerline_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert says in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert (tmp_path / "clickhouse").exists() == store


def test_duration_percentiles_from_the_sketches_are_within_one_percent(lineage_store: Store) -> None:
    store = lineage_store
    base = T0 + 600 * DAY
    rng = random.Random(7)
    spans = Spans()
    for i in range(3000):  # durations from 1 ms to 10 minutes, log-uniform, over 30 minutes
        end = base + rng.randrange(30 * MIN)
        spans.add(f"c{i}", f"invoice:D{i}", "invoice.issued", end, dur_ms=round(10 ** rng.uniform(0, 5.8)))
    spans.write(store)
    rollups.seal(store, margin_ms=0)
    window = {"a": base, "b": base + 30 * MIN}
    (sketched,) = store.query(
        "SELECT quantilesDDMerge(0.005, 0.5, 0.95, 0.99)(Duration) FROM hop_rollup FINAL"
        " WHERE Minute >= fromUnixTimestamp64Milli({a:Int64}) AND Minute < fromUnixTimestamp64Milli({b:Int64})",
        window,
    )[0]
    (exact,) = store.query(
        "SELECT quantilesExact(0.5, 0.95, 0.99)(toUnixTimestamp64Micro(EndTime) - toUnixTimestamp64Micro(StartTime))"
        " FROM hop_times FINAL"
        " WHERE EndTime >= fromUnixTimestamp64Milli({a:Int64}) AND EndTime < fromUnixTimestamp64Milli({b:Int64})",
        window,
    )[0]
    assert len(sketched) == len(exact) == 3
    for got, want in zip(sketched, exact, strict=True):
        assert abs(got - want) <= 0.01 * want, (sketched, exact)
