"""The flows file's KPIs and reconciliations: the packaged ones, and refusals naming the line."""

from __future__ import annotations

import pytest

from lineage.core.flows import FlowConfigError, load_flows, parse_flows

HEAD = """flows:
  f:
    stages:
      - {name: a, entity_type: x, step: x.done}
      - {name: b, entity_type: y, step: y.done}
"""


def test_packaged_kpis_and_reconciliations() -> None:
    config = load_flows()
    o2c = config.flows["order_to_cash"]
    assert [k.name for k in o2c.all_kpis()][:2] == ["posting_latency", "order_to_invoice_cycle"]
    cycle = o2c.kpi_named("order_to_invoice_cycle")
    assert cycle is not None and (cycle.from_step, cycle.to_step, cycle.match) == (
        "order.booked",
        "invoice.issued",
        "parent",
    )
    assert (cycle.objective_s, cycle.objective_percent) == (7200, 95)
    rate = o2c.kpi_named("posting_failure_rate")
    assert rate is not None and rate.objective_rate == pytest.approx(0.05)
    assert config.flows["payment_sync"].kpi_named("payment_to_crm").match == "correlation"  # type: ignore[union-attr]
    rec = config.reconciliations["payment_to_crm"]
    assert (rec.left.system, rec.right.system, rec.match, rec.tolerance) == ("billing", "crm", "key", 0.01)


def test_kpis_parse() -> None:
    text = (
        HEAD
        + """    kpis:
      ab: {kind: latency, from: x.done, to: y.done, match: correlation, objective: {target: 90m, percent: "99.5"}}
      rate: {kind: throughput, step: y.done, per: 1d}
      fails: {kind: failure_rate, step: x.done}
"""
    )
    flow = parse_flows(text).flows["f"]
    ab, rate, fails = flow.kpis
    assert (ab.objective_s, ab.objective_percent, ab.match) == (5400, 99.5, "correlation")
    assert (rate.kind, rate.per_s, fails.objective_rate) == ("throughput", 86400, None)


@pytest.mark.parametrize(
    ("tail", "problem"),
    [
        ("    kpis:\n      k: {kind: speed, step: x.done}\n", "line 7: kpi 'k' kind must be one of latency"),
        ("    kpis:\n      k: {kind: latency, from: x.done}\n", "line 7: kpi 'k' is missing 'to'"),
        (
            "    kpis:\n      k: {kind: latency, from: x.done, to: z.done}\n",
            "line 7: kpi 'k' to: 'z.done' is not the step",
        ),
        ("    kpis:\n      k: {kind: throughput, step: x.done, objective: 5}\n", "line 7: unknown key 'objective'"),
        ("    kpis:\n      k: {kind: failure_rate, step: x.done, objective: 150%}\n", "between 0 and 100"),
        (
            "    kpis:\n      k:\n        kind: latency\n        from: x.done\n        to: y.done\n"
            "        objective: {target: 1h}\n",
            "line 11: kpi 'k' objective needs 'target' and 'percent'",
        ),
        ("    kpis:\n      posting_latency: {kind: throughput, step: x.done}\n", "is built in"),
        (
            "reconciliations:\n  r: {left: {step: x.done, entity_type: x}}\n",
            "line 7: reconciliation 'r' is missing 'right'",
        ),
        (
            "reconciliations:\n  r: {left: {step: x.done}, right: {step: y.done, entity_type: y}}\n",
            "missing 'entity_type'",
        ),
        (
            "reconciliations:\n  r: {left: {step: x.done, entity_type: x}, right: {step: y.done, entity_type: y}, "
            "match: fuzzy}\n",
            "match must be one of parent, key",
        ),
        (
            "reconciliations:\n  r: {left: {step: x.done, entity_type: x}, right: {step: y.done, entity_type: y}, "
            "tolerance: -1}\n",
            "tolerance must not be negative",
        ),
        (
            "reconciliations:\n  r: {left: {step: x.done, entity_type: x}, right: {step: x.done, entity_type: x}}\n",
            "compares a step with itself",
        ),
    ],
)
def test_bad_kpis_and_reconciliations_name_the_line(tail: str, problem: str) -> None:
    with pytest.raises(FlowConfigError, match=problem) as info:
        parse_flows(HEAD + tail, "flows.yaml")
    assert str(info.value).startswith("flows.yaml, line ")
