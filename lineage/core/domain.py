"""The domain layer: the one definition of each business concept over the store.

The lineage API and the alert rules ask their business questions here, so a page and an
alert can never disagree about what an exception, a posting latency, an SLA breach or a
stuck transaction is:

- **exception**: one per (entity type, entity id, step) with a failed, retried or
  dead-lettered attempt; its id is ``queries.EXC_ID``; its state (open, acknowledged,
  resolved), closing time and recoverability come from ``lineage.sql.exceptions.EXCEPTIONS_CTE``, with the
  categories of the flows file (:func:`exception_params`);
- **posting latency**: ``queries.POSTINGS_CTE``, between the steps a flow names in its
  ``posting_latency`` (:func:`posting_steps`);
- **stage SLA** and **stuck**: a transaction's stages against the SLAs of its flow in the
  flows file, measured from the previous completed stage, and its status
  (``lineage/core/derive.py``), over the transactions that started in a window (:func:`assess`).

Every function takes the caller's scope and its own clock (``now_ms``): the alerts evaluate
on theirs, the API on the wall clock.

Sibling domain modules (issue 17), over the same flows file and scope: the KPIs of each flow
(``lineage/business/kpis.py``, also posting latency's route and the ``kpi`` alert rules), waiting
queues (``lineage/business/waiting.py``), reconciliation drift (``lineage/business/reconcile.py``); their SQL is
``lineage/business/queries.py``. A **compensation** is a hop with ``Compensates`` set (from
``biz.compensates`` or ``biz.outcome=compensated``, lineage/schema.py migration 103): never a
failure or an exception, netted in reconciliation, left out of the duplicate-posting and amount
checks (``lineage/core/checks.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, Literal

from collector.store import Store
from lineage.core.derive import StageVerdict, TxnFacts, Verdict, evaluate, facts_from_row
from lineage.core.flows import FlowConfig
from lineage.core.scope import Scope
from lineage.sql import facts_queries

END_TO_END = "end_to_end"  # the pseudo-stage of a transaction's end-to-end SLA


def exception_params(config: FlowConfig, as_of_ms: int) -> dict[str, Any]:
    """Parameters of every query built on ``lineage.sql.exceptions.EXCEPTIONS_CTE``."""
    return {
        "transient": sorted(config.transient),
        "business": sorted(config.business),
        "unknown_transient": int(config.unknown_is_transient),
        "as_of_ms": as_of_ms,
    }


def posting_steps(config: FlowConfig, flow: str | None) -> tuple[str, str]:
    """The (from, to) steps of ``flow``'s posting latency (the default flow when None)."""
    f = config.flow(flow)
    return f.latency_from, f.latency_to


# Which transactions ``assess`` returns: all, those not complete (failed and in flight are
# never complete), those with a breached SLA, or those not complete with an open stage or the
# end-to-end SLA overdue (stuck ones among them). SQL leaves out the rest (facts_queries._KEEP), so
# a window of many healthy transactions costs a query, not a verdict each.
Keep = Literal["all", "incomplete", "breaches", "stuck"]
_KEEP = {"all": 0, "incomplete": 1, "breaches": 2, "stuck": 3}


def _stage_arrays(config: FlowConfig) -> dict[str, Any]:
    """The flows file's stages as the parallel arrays facts_queries binds (one entry per flow)."""
    names = sorted(config.flows)
    flows = [config.flows[n] for n in names]

    def ms(seconds: float | None) -> int:
        return -1 if seconds is None else int(seconds * 1000)

    # the index of each flow's last required stage (its last stage if none is required)
    lasts = [([j for j, s in enumerate(f.stages) if s.required] or [len(f.stages) - 1])[-1] for f in flows]
    terminals = [f.stages[j] for f, j in zip(flows, lasts, strict=True)]
    return {
        "flow_names": names,
        "terminal_steps": sorted({t.step for t in terminals}),
        "terminal_keys": [f"{t.entity_type}|{t.step}" for t in terminals],
        "stage_keys": [[f"{s.entity_type}|{s.step}" for s in f.stages] for f in flows],
        "stage_names": [[s.name for s in f.stages] for f in flows],
        "e2e_name": END_TO_END,
        "stage_slas": [[ms(s.sla_s) for s in f.stages] for f in flows],
        "e2e_sla": [ms(f.end_to_end_sla_s) for f in flows],
        "last_required": [j + 1 for j in lasts],  # ClickHouse arrays are 1-based
    }


def _window_params(
    config: FlowConfig, scope: Scope, keep: Keep, window: dict[str, int], **filters: str | int
) -> dict[str, Any]:
    """The parameters every facts query binds: the window's bounds and clock, the flows file's
    stages, the caller's scope, which transactions to keep, and the filters (flow, system, region)."""
    return (
        {"default_flow": config.default_flow, "flow": "", "system": "", "region": "", "keep": _KEEP[keep]}
        | window
        | filters
        | _stage_arrays(config)
        | scope.params()
    )


def facts_params(config: FlowConfig, keep: Keep) -> dict[str, Any]:
    """The flows file's stages and ``keep`` as facts_queries binds them: what another reader of
    the same SQL (the Grafana panels, ledgerline/grafana) writes in as literals."""
    return _stage_arrays(config) | {"keep": _KEEP[keep], "default_flow": config.default_flow}


@dataclass(frozen=True)
class Assessed:
    """One transaction's stage facts and what they mean at the evaluation time."""

    facts: TxnFacts
    verdict: Verdict


Listed = tuple[list[Assessed], bool]  # a listing's transactions, and whether more matched


@dataclass(frozen=True)
class Breach:
    """A breached SLA: a stage (late, or open and overdue) or, with ``stage`` None, end to end."""

    facts: TxnFacts
    verdict: Verdict
    stage: StageVerdict | None

    @property
    def stage_name(self) -> str:
        """The stage's name, or ``end_to_end``."""
        return self.stage.stage if self.stage else END_TO_END


def assess(
    store: Store,
    config: FlowConfig,
    scope: Scope,
    *,
    since_ms: int,
    until_ms: int,
    scan_until_ms: int,
    now_ms: int,
    max_rows: int,
    flow: str = "",
    system: str = "",
    region: str = "",
    timeout_s: float | None = None,
    keep: Keep = "all",
) -> tuple[list[Assessed], bool]:
    """Transactions whose first in-scope hop started in [since, until), newest first, each
    with its verdict at ``now_ms``; hops up to ``scan_until_ms`` count (later stages). The
    flag says more than ``max_rows`` transactions matched (only the first are returned).
    ``keep`` leaves out, in SQL, transactions that cannot matter to the caller (see ``Keep``);
    the verdicts of those returned are the same either way."""
    window = {"since_ms": since_ms, "until_ms": until_ms, "scan_until_ms": scan_until_ms, "now_ms": now_ms}
    params = _window_params(config, scope, keep, window, flow=flow, system=system, region=region, limit=max_rows + 1)
    # Not complete: start from the candidates (facts_queries.CANDIDATES).
    sql = facts_queries.FACTS_IN_WINDOW_OPEN if keep in ("incomplete", "stuck") else facts_queries.FACTS_IN_WINDOW
    rows = store.query_dicts(sql, params, timeout_s=timeout_s)
    out = []
    for row in rows[:max_rows]:
        facts = facts_from_row(row)
        out.append(Assessed(facts, evaluate(config, facts, now_ms)))
    return out, len(rows) > max_rows


# Correlation IDs whose facts one query computes (the IN list of its primary-key seeks).
_FACTS_BATCH = 2000
# What aggregating a transaction costs beyond its hops, counted in hops (measured here): looked
# up by correlation ID, about 150 (a granule read by each of the lookups, whatever its size);
# in the window's query, about 30 (its groups and orphans), on top of every hop of the window.
# A listing that would cost more by correlation ID than the window's query aggregates the window
# instead, as ``assess`` does. With a status the transactions to aggregate are not known in
# advance, and the window's query aggregates only the candidates (all of them, for ``complete``):
# by correlation ID only when those average ``_LARGE`` hops or more, and only while under a
# quarter of them and half the window's query's cost are spent (past that, the batches so far
# are wasted); and never for more than a batch of matches (``_FACTS_BATCH``).
_BY_ID_COST, _IN_WINDOW_COST, _STATUS_SHARE, _LARGE = 150, 30, 4, 50


def _kept(status: str, v: Verdict) -> bool:
    """Whether the SQL filter :func:`assess` uses for a listing by ``status`` keeps ``v``
    (tests/lineage/test_keep.py checks that filter against these verdicts)."""
    if status in ("", "complete"):
        return True
    if status != "stuck":
        return v.status != "complete"
    return v.status != "complete" and (v.end_to_end_breached or any(s.state == "open" and s.breached for s in v.stages))


def _shortest_slas(config: FlowConfig) -> dict[str, list[int]]:
    """Per flow (in ``flow_names`` order), its shortest stage SLA and its end-to-end SLA, ms
    (none: a huge number), which facts_queries.PAGE binds to leave out those not yet overdue."""
    never = 2**62

    def ms(seconds: list[float | None]) -> int:
        return min((int(s * 1000) for s in seconds if s is not None), default=never)

    flows = [config.flows[n] for n in sorted(config.flows)]
    return {
        "shortest_stage_ms": [ms([s.sla_s for s in f.stages]) for f in flows],
        "shortest_e2e_ms": [ms([f.end_to_end_sla_s]) for f in flows],
    }


class _Page:
    """The correlation IDs of facts_queries.PAGE in order with their hops, ``size`` per query
    (the first query runs at once: ``matched`` is how many there are, ``listed_hops`` their
    hops, ``cost`` what aggregating the window in its query would cost, in hops)."""

    def __init__(self, store: Store, params: dict[str, Any], size: int, timeout_s: float | None) -> None:
        self.store, self.params, self.size, self.timeout_s = store, params, size, timeout_s
        self.rows = self._after((2**63 - 1, ""))
        self.matched, self.listed_hops = (int(self.rows[0][3]), int(self.rows[0][5])) if self.rows else (0, 0)
        self.cost = int(self.rows[0][4]) + _IN_WINDOW_COST * self.matched if self.rows else 0

    def _after(self, cursor: tuple[int, str]) -> list[tuple[Any, ...]]:
        page = self.params | {"after_ms": cursor[0], "after_cid": cursor[1], "limit": self.size}
        return self.store.query(facts_queries.PAGE, page, timeout_s=self.timeout_s)

    def __iter__(self) -> Iterator[tuple[str, int]]:
        rows = self.rows
        while True:
            yield from ((str(r[0]), int(r[2])) for r in rows)
            if len(rows) < self.size:
                return
            rows = self._after((int(rows[-1][1]), str(rows[-1][0])))


def _by_id_cost(ids: list[tuple[str, int]]) -> int:
    """What aggregating these (correlation ID, hops) by correlation ID costs, in hops."""
    return sum(hops for _, hops in ids) + _BY_ID_COST * len(ids)


def _by_window(store: Store, config: FlowConfig, scope: Scope, status: str, limit: int, **kw: Any) -> Listed:
    """The listing from :func:`assess` over the whole window (complete transactions left out in
    SQL for a status that is never complete), filtered and cut."""
    keep: Keep = "stuck" if status == "stuck" else "incomplete" if status in ("failed", "in_flight") else "all"
    assessed, scan_truncated = assess(store, config, scope, keep=keep, **kw)
    items = [a for a in assessed if not status or a.verdict.status == status]
    return items[:limit], len(items) > limit or scan_truncated


def listing(
    store: Store,
    config: FlowConfig,
    scope: Scope,
    *,
    since_ms: int,
    until_ms: int,
    scan_until_ms: int,
    now_ms: int,
    limit: int,
    max_rows: int,
    status: str = "",
    flow: str = "",
    system: str = "",
    region: str = "",
    timeout_s: float | None = None,
) -> Listed:
    """The transactions listing: what :func:`assess` returns for the window and filters (with
    the ``keep`` that suits ``status``), those of ``status`` when given, the first ``limit``, and
    whether more matched; at the cost of the page rather than of every hop of the window.

    The page is chosen first (facts_queries.PAGE: one narrow pass over the window) and only the
    chosen transactions are aggregated (FACTS_FOR_PAGE), in batches growing from ``limit`` + 1,
    until ``limit`` + 1 of them match. Without a status the first batch is the page; with one,
    as many are aggregated as it takes to find ``limit`` + 1 of that status (for ``stuck``, only
    those old enough to be overdue). When that would cost more than aggregating the window
    (``_BY_ID_COST``) the window is aggregated instead (:func:`_by_window`). As in ``assess``,
    only the first ``max_rows`` transactions its SQL filter keeps count (more: truncated)."""
    window = {"since_ms": since_ms, "until_ms": until_ms, "scan_until_ms": scan_until_ms, "now_ms": now_ms}
    filters = {"flow": flow, "system": system, "region": region}
    params = _window_params(config, scope, "all", window, **filters)
    params["open_only"] = int(status not in ("", "complete"))  # FACTS_IN_WINDOW_OPEN's transactions
    params |= {"stuck_only": int(status == "stuck")} | _shortest_slas(config)
    wanted = min(limit, max_rows) + 1
    by_window = {"max_rows": max_rows, "timeout_s": timeout_s} | window | filters
    if status and wanted > _FACTS_BATCH:  # more matches than a batch: the window's candidates
        return _by_window(store, config, scope, status, limit, **by_window)
    page = _Page(store, params, wanted if not status else max_rows + 1, timeout_s)
    if not page.matched:
        return [], False
    budget, share = (page.cost // 2, page.matched // _STATUS_SHARE) if status else (page.cost, page.matched)
    if not status:
        large = _by_id_cost(list(islice(iter(page), wanted))) > budget
    else:  # small candidates cost little in the window's query, which aggregates only them
        small = status != "complete" and page.listed_hops < _LARGE * page.matched
        large = small or wanted > share
    if large:
        return _by_window(store, config, scope, status, limit, **by_window)
    ids, size, spent, seen = iter(page), min(wanted, _FACTS_BATCH), 0, 0
    kept, out = 0, list[Assessed]()
    # no more than can still count: without a status, every transaction aggregated is listed
    while batch := list(islice(ids, min(size, (max_rows + 1 if status else wanted) - kept))):
        spent, seen = spent + _by_id_cost(batch), seen + len(batch)
        if spent > budget or seen > share:  # a status few have (or a page short of facts)
            return _by_window(store, config, scope, status, limit, **by_window)
        batch_params = params | {"ids": [c for c, _ in batch]}
        rows = store.query_dicts(facts_queries.FACTS_FOR_PAGE, batch_params, timeout_s=timeout_s)
        facts = {str(r["correlation_id"]): facts_from_row(r) for r in rows}
        # a transaction the page picked can still fail the filters over its groups (FACTS_FOR_PAGE)
        for a in (Assessed(facts[c], evaluate(config, facts[c], now_ms)) for c, _ in batch if c in facts):
            if not _kept(status, a.verdict):
                continue
            kept += 1
            if kept > max_rows:
                return out[:limit], True
            if not status or a.verdict.status == status:
                out.append(a)
                if len(out) > limit:
                    return out[:limit], True
        size = min(size * 4, _FACTS_BATCH)
    return out, False


def breaches_by_stage(
    store: Store,
    config: FlowConfig,
    scope: Scope,
    *,
    since_ms: int,
    until_ms: int,
    scan_until_ms: int,
    now_ms: int,
    flow: str,
    timeout_s: float | None = None,
) -> dict[str, tuple[int, list[tuple[int, str]]]]:
    """Breached SLAs of ``flow``'s transactions that started in [since, until), per stage name
    (or ``end_to_end``): how many, and the five earliest started (start ms, correlation ID).
    What :func:`breaches` over :func:`assess` gives, counted in SQL (the same rule, checked
    against derive.py's verdicts by tests/lineage/core/test_keep.py) so that a window of many breaches
    costs one query, not a verdict each."""
    window = {"since_ms": since_ms, "until_ms": until_ms, "scan_until_ms": scan_until_ms, "now_ms": now_ms}
    rows = store.query(
        facts_queries.BREACHES_BY_STAGE,
        _window_params(config, scope, "breaches", window, flow=flow),
        timeout_s=timeout_s,
    )
    return {str(stage): (int(n), [(int(t), str(c)) for t, c in examples]) for stage, n, examples in rows}


def breaches(assessed: list[Assessed], stage: str = "") -> list[Breach]:
    """Every breached SLA of the assessed transactions, optionally of one stage (or ``end_to_end``)."""
    out: list[Breach] = []
    for a in assessed:
        out += [Breach(a.facts, a.verdict, s) for s in a.verdict.stages if s.breached and stage in ("", s.stage)]
        if a.verdict.end_to_end_breached and stage in ("", END_TO_END):
            out.append(Breach(a.facts, a.verdict, None))
    return out


def stuck(assessed: list[Assessed], now_ms: int, idle_ms: int = 0) -> list[Assessed]:
    """Transactions whose status is ``stuck`` and that saw no activity for ``idle_ms``."""
    return [a for a in assessed if a.verdict.status == "stuck" and now_ms - a.facts.last_ms >= idle_ms]
