"""The domain layer: the one definition of each business concept over the store.

The lineage API and the alert rules ask their business questions here, so a page and an
alert can never disagree about what an exception, a posting latency, an SLA breach or a
stuck transaction is:

- **exception**: one per (entity type, entity id, step) with a failed, retried or
  dead-lettered attempt; its id is ``queries.EXC_ID``; its state (open, acknowledged,
  resolved), closing time and recoverability come from ``queries.EXCEPTIONS_CTE``, with the
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

from dataclasses import dataclass
from typing import Any, Literal

from collector.store import Store
from lineage.core.derive import StageVerdict, TxnFacts, Verdict, evaluate, facts_from_row
from lineage.core.flows import FlowConfig
from lineage.core.scope import Scope
from lineage.sql import facts_queries

END_TO_END = "end_to_end"  # the pseudo-stage of a transaction's end-to-end SLA


def exception_params(config: FlowConfig, as_of_ms: int) -> dict[str, Any]:
    """Parameters of every query built on ``queries.EXCEPTIONS_CTE``."""
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
