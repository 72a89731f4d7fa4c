"""Each shipped rule kind's SQL against a real store at a fixed evaluation time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.kinds import run_rule
from alerts.rules import load_rules, parse_rules
from collector.store import Store
from lineage.core.flows import load_flows
from tests.alerts.helpers import HOUR, MIN, T0, hop, posting, service

pytestmark = pytest.mark.timeout(120)


def _rule(kind: str, **expr: object):  # type: ignore[no-untyped-def]
    return parse_rules({"rules": [{"name": "R", "kind": kind, "team": "platform", "expr": expr}]})[0]


FLOWS = load_flows()


def _run(store: Store, kind: str, **expr: object) -> dict[str, tuple[float, tuple]]:
    samples = run_rule(store, _rule(kind, **expr), T0, flows=FLOWS, timeout_s=10)
    return {"/".join(s.labels.values()): (s.value, s.examples) for s in samples}


@pytest.fixture
def exceptions(store: Store) -> Store:
    hop(store, "E1", "invoice:INV-E1", "invoice.issued", T0 - 30 * HOUR, system="billing", outcome="failed")
    hop(store, "E2", "invoice:INV-E2", "invoice.issued", T0 - 2 * HOUR, system="billing", outcome="retry")
    hop(store, "E2", "invoice:INV-E2", "invoice.issued", T0 - HOUR, system="billing")
    hop(store, "E3", "ledger:LED-E3", "ledger.posted", T0 - 30 * MIN, system="sap", outcome="dead_letter")
    return store


def test_exception_backlog_size_growth_and_oldest_age(exceptions: Store) -> None:
    assert _run(exceptions, "exceptions", metric="size") == {"billing": (1.0, ("E1",)), "sap": (1.0, ("E3",))}
    assert _run(exceptions, "exceptions", metric="growth", by="system") == {"sap": (1.0, ("E3",))}
    oldest = _run(exceptions, "exceptions", metric="oldest_age", threshold="24h")
    assert list(oldest) == ["billing"] and oldest["billing"][0] == pytest.approx(30 * 3600 + 1, abs=1)


def test_exceptions_resolved_by_people_leave_the_backlog(exceptions: Store) -> None:
    exc_id = exceptions.query("SELECT lower(leftPad(hex(cityHash64('invoice', 'INV-E1', 'invoice.issued')), 16, '0'))")
    exceptions.insert(
        "exception_actions",
        [[exc_id[0][0], "resolve", "ops", "fixed", datetime.fromtimestamp((T0 - HOUR) / 1000, UTC)]],
        ["ExceptionId", "Action", "Actor", "Note", "At"],
    )
    assert list(_run(exceptions, "exceptions", metric="size")) == ["sap"]


def test_sla_breaches_per_stage_use_the_flows_file(store: Store) -> None:
    """Stage SLAs are the flows file's (support_credit: credit 4h, invoice 1h, ledger 4h, end to
    end 24h), each measured from the previous completed stage, as the lineage API measures them."""
    hop(store, "B1", "case:K1", "case.opened", T0 - 10 * HOUR, system="zendesk")
    hop(store, "B1", "credit:CR-1", "credit.approved", T0 - 9 * HOUR, system="billing", parent=("case", "K1"))
    hop(store, "B1", "invoice:INV-1", "invoice.issued", T0 - 6 * HOUR, system="billing", parent=("credit", "CR-1"))
    posting(store, 2, T0 - 3 * HOUR, 30 * MIN)  # on time
    out = _run(store, "sla_breach", flow="support_credit")
    # B1: the invoice came 3h after the credit (late); the ledger is 2h overdue (open).
    assert out == {"support_credit/invoice": (1.0, ("B1",)), "support_credit/ledger": (1.0, ("B1",))}
    assert _run(store, "sla_breach", flow="support_credit", stages=["ledger"]) == {
        "support_credit/ledger": (1.0, ("B1",))
    }
    assert _run(store, "sla_breach", flow="support_credit", window="2h") == {}  # B1 started before


def test_sla_alerts_and_the_lineage_api_agree(store: Store) -> None:
    """One definition: the alert's count per stage equals the API's breaches per stage."""
    from lineage.core.scope import EVERYTHING
    from lineage.core.service import Lineage
    from lineage.core.window import Window
    from lineage.settings import LineageSettings

    for n in range(6):  # credits approved 2h..7h after their case; the SLA is 4h
        hop(store, f"A{n}", f"case:K{n}", "case.opened", T0 - 20 * HOUR, system="zendesk")
        hop(store, f"A{n}", f"credit:CR{n}", "credit.approved", T0 - (18 - n) * HOUR, parent=("case", f"K{n}"))
    alerts = _run(store, "sla_breach", flow="support_credit", window="24h")
    svc = Lineage(LineageSettings(), store, FLOWS)
    api = svc.sla_breaches(EVERYTHING, Window(T0 - 24 * HOUR, T0, 1000), "support_credit", "")
    per_stage: dict[str, int] = {}
    for b in api["breaches"]:  # the API's clock is the wall clock: its end-to-end SLAs have passed too
        if b["stage"] != "end_to_end":
            per_stage[b["stage"]] = per_stage.get(b["stage"], 0) + 1
    # credit: 3 late (5h, 6h, 7h); invoice: 6 open and overdue
    assert per_stage == {"credit": 3, "invoice": 6}
    assert {k.split("/")[1]: int(v[0]) for k, v in alerts.items()} == per_stage


def test_stuck_transactions_are_lineage_stuck_and_idle(store: Store) -> None:
    hop(store, "S1", "invoice:INV-S1", "invoice.issued", T0 - 30 * HOUR, system="billing")
    hop(store, "S2", "invoice:INV-S2", "invoice.issued", T0 - 30 * HOUR, system="billing")
    hop(store, "J1", "ledger:JRN-1", "ledger.posted", T0 - 29 * HOUR, system="sap", parent=("invoice", "INV-S2"))
    hop(store, "S3", "invoice:INV-S3", "invoice.issued", T0 - 6 * HOUR, system="billing")  # stuck, not idle 24h
    hop(store, "S4", "invoice:INV-S4", "invoice.issued", T0 - 2 * HOUR, system="billing")  # in flight
    # S2 was posted by a batch journal (J1): complete, not stuck.
    assert _run(store, "stuck", older_than="24h") == {"billing": (1.0, ("S1",))}
    assert _run(store, "stuck") == {"billing": (2.0, ("S1", "S3"))}


def test_rules_naming_unknown_flows_or_stages_are_refused() -> None:
    from alerts.errors import RuleError
    from alerts.rules import check_flows

    for expr, problem in (
        ({"flow": "nope"}, "expr.flow: 'nope' is not in the flows file"),
        ({"flow": "support_credit", "stages": ["posting"]}, "flow 'support_credit' has no stage 'posting'"),
    ):
        with pytest.raises(RuleError, match=problem):
            check_flows([_rule("sla_breach", **expr)], FLOWS)
    with pytest.raises(RuleError, match=r"expr.flow: 'nope'"):
        check_flows([_rule("posting_latency", threshold="1h", flow="nope")], FLOWS)
    check_flows(load_rules(), FLOWS)  # the shipped rules name real flows and stages


def test_slo_burn_fires_on_fast_burn_only(store: Store) -> None:
    for n in range(5):
        posting(store, n, T0 - 4 * MIN - 5 * HOUR, 5 * HOUR)  # posted in the last 5 minutes, too slow
    out = _run(store, "slo_burn", objective=99, latency_target="4h", tier="page")
    assert out == {"": (100.0, ("C0", "C1", "C2", "C3", "C4"))}
    # The same postings fast: nothing burns.
    assert _run(store, "slo_burn", objective=99, latency_target="6h") == {}


def test_default_rules_all_evaluate_healthy(store: Store, tmp_path: Path) -> None:
    posting(store, 1, T0 - 2 * HOUR, 30 * MIN)
    svc = service(store, None)
    svc.run_once(T0, force=True)
    assert {n: h.health for n, h in svc.evaluator.health.items()} == {r.name: "ok" for r in load_rules()}
    svc.stop()


def test_rules_differing_in_threshold_or_exception_metric_share_one_query(exceptions: Store) -> None:
    low = _rule("exceptions", metric="size", threshold=0)
    high = _rule("exceptions", metric="size", threshold=1)
    cache: dict = {}
    assert len(run_rule(exceptions, low, T0, flows=FLOWS, timeout_s=10, cache=cache)) == 2
    assert run_rule(exceptions, high, T0, flows=FLOWS, timeout_s=10, cache=cache) == []
    age = _rule("exceptions", metric="oldest_age", threshold="24h")
    assert len(run_rule(exceptions, age, T0, flows=FLOWS, timeout_s=10, cache=cache)) == 1
    assert len(cache) == 1  # backlog size, threshold variant and oldest age: one query


def test_sla_and_stuck_rules_of_one_window_share_one_assessment(store: Store) -> None:
    hop(store, "S1", "invoice:INV-S1", "invoice.issued", T0 - 30 * HOUR, system="billing")
    cache: dict = {}
    rules = [_rule("stuck", older_than=f"{h}h") for h in (1, 12, 24)] + [_rule("sla_breach", flow="support_credit")]
    results = [run_rule(store, r, T0, flows=FLOWS, timeout_s=10, cache=cache) for r in rules]
    assert [len(r) for r in results] == [
        1,
        1,
        1,
        0,
    ]  # S1 stuck for each idle limit; it started before the 24h SLA window
    # one assessment for the stuck rules' 7-day lookback, one breach count for the 24h SLA window
    assert sorted((k[0], int(k[2])) for k in cache) == [("assess", 7 * 86_400_000), ("breaches", 86_400_000)]
