"""The statistics of "why?" keep their promise: on data without a cause, the share of answers
with any finding stays within the stated family-wise level (over 200 seeded runs), and so does
the change-point test; a planted cause is found."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from lineage.explain import stats

RUNS = 200
DIMENSIONS = {
    "system": [0.5, 0.3, 0.2],
    "region": [0.4, 0.4, 0.2],
    "currency": [0.6, 0.25, 0.1, 0.05],
    "band": [0.2] * 5,
}


def _cells(rng: np.random.Generator, n_sel: int, n_base: int, lift: float = 1.0) -> list[stats.Cell]:
    """Units drawn from the same distribution for selection and baseline (``lift`` > 1 plants a
    cause: the first region's probability in the selection multiplied)."""
    out = []
    for dim, probs in DIMENSIONS.items():
        p_sel = np.array(probs, dtype=float)
        if dim == "region" and lift != 1.0:
            p_sel[0] *= lift
            p_sel /= p_sel.sum()
        sel, base = rng.multinomial(n_sel, p_sel), rng.multinomial(n_base, probs)
        out += [stats.Cell(dim, str(i), int(s), int(b)) for i, (s, b) in enumerate(zip(sel, base, strict=True))]
    return out


@pytest.mark.parametrize(("n_sel", "n_base"), [(30, 600), (200, 200)])
def test_no_false_alarms_beyond_the_stated_level(n_sel: int, n_base: int) -> None:
    rng = np.random.default_rng(2026)
    alarms = sum(bool(stats.findings(_cells(rng, n_sel, n_base), n_sel, n_base)) for _ in range(RUNS))
    # The correction promises P(any finding) <= LEVEL; allow the binomial noise of RUNS runs.
    assert alarms <= binom.ppf(0.999, RUNS, stats.LEVEL), (alarms, RUNS)


def test_change_point_has_no_false_alarms_on_a_constant_rate() -> None:
    rng = np.random.default_rng(7)
    alarms = 0
    for _ in range(RUNS):
        totals = rng.poisson(200, 24)
        hits = rng.binomial(totals, 0.05)
        alarms += stats.change_point(list(hits), list(totals)) is not None
    assert alarms <= binom.ppf(0.999, RUNS, stats.LEVEL), alarms


def test_a_planted_cause_is_found_and_a_planted_change_located() -> None:
    rng = np.random.default_rng(3)
    found = stats.findings(_cells(rng, 80, 800, lift=2.2), 80, 800)
    assert found and (found[0].dimension, found[0].value) == ("region", "0")
    totals = [200] * 24
    hits = [int(x) for x in rng.binomial(200, 0.03, 14)] + [int(x) for x in rng.binomial(200, 0.2, 10)]
    cp = stats.change_point(hits, totals)
    assert cp is not None and abs(cp.index - 14) <= 1 and cp.rate_after > cp.rate_before


def test_holm_adjusts_in_step_down_order() -> None:
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert stats.holm([]) == []


def test_a_value_whose_own_rate_rose_is_named_and_a_steady_one_is_not() -> None:
    onsets = [
        stats.Onset("region", "amer", 10, 78, 61, 80),
        stats.Onset("region", "emea", 3, 78, 12, 80),
        stats.Onset("region", "apac", 3, 78, 6, 80),
        stats.Onset("legal_entity", "LE-1", 16, 234, 79, 240),  # every unit: nothing to compare with
    ]
    assert [o.value for o, _ in stats.risen(onsets)] == ["amer"]


def _durations(rng: np.random.Generator, slower: float = 1.0) -> list[stats.Durations]:
    """Per dimension value, a sample of durations and a sample of the rest's, all drawn from one
    log-normal distribution (``slower`` > 1 multiplies the first region's durations)."""
    out = []
    for dim, probs in DIMENSIONS.items():
        for i in range(len(probs)):
            factor = slower if (dim, i) == ("region", 0) else 1.0
            mine = rng.lognormal(0, 0.5, 120) * factor
            rest = rng.lognormal(0, 0.5, 300)
            out.append(stats.Durations(dim, str(i), 12, 100, list(mine), list(rest)))
    return out


def test_latency_test_has_no_false_alarms_beyond_the_stated_level() -> None:
    rng = np.random.default_rng(11)
    alarms = sum(bool(stats.slower(_durations(rng), 30, 300)) for _ in range(RUNS))
    assert alarms <= binom.ppf(0.999, RUNS, stats.LEVEL), alarms


def test_latency_test_finds_a_slower_value_and_never_a_faster_one() -> None:
    rng = np.random.default_rng(12)
    found = stats.slower(_durations(rng, slower=1.4), 30, 300)
    assert [(f.dimension, f.value) for f in found] == [("region", "0")] and found[0].p_value <= stats.LEVEL
    assert stats.slower(_durations(rng, slower=0.6), 30, 300) == []  # faster is not a cause of slowness
    assert stats.slower_p([1.0] * 3, [0.5] * 300) == 1.0  # too few to test


def test_a_value_whose_excess_lies_in_another_is_explained_by_it_and_not_the_other_way() -> None:
    # 100 failed of 1000 units. Legal entity DE (200 units, 60 failed) is the cause; its region
    # (DE plus FR: 400 units, 70 failed) is significant too, but only through DE: without DE's
    # units, FR fails 10 of 200 (as the rest: 30 of 600 other units).
    n_sel, n_base = 100, 900
    de = stats.findings([stats.Cell("legal_entity", "DE", 60, 140)], n_sel, n_base)[0]
    region = stats.findings([stats.Cell("region", "eu-west", 70, 330)], n_sel, n_base)[0]
    assert stats.explained_by(region, de, 60, 140, n_sel, n_base)
    assert not stats.explained_by(de, region, 60, 140, n_sel, n_base)
    # When FR fails as much as DE, the region is the cause: not explained by DE alone (and DE,
    # within its region like FR, is not the region's either: the money ranks them).
    region = stats.findings([stats.Cell("region", "eu-west", 120, 280)], 160, 840)[0]
    de = stats.findings([stats.Cell("legal_entity", "DE", 60, 140)], 160, 840)[0]
    assert not stats.explained_by(region, de, 60, 140, 160, 840)
    assert not stats.explained_by(de, region, 60, 140, 160, 840)
    # Two names of the same units (a currency only its region books) explain neither the other.
    assert not stats.explained_by(region, region, 120, 280, 160, 840)
    # A cause that is two values together (one entity's postings, a whole flow asked): each
    # explains the other, so "why?" keeps both (it demotes a value explained one way only).
    entity = stats.findings([stats.Cell("legal_entity", "DE", 20, 130)], 20, 980)[0]
    step = stats.findings([stats.Cell("step", "ledger.posted", 20, 200)], 20, 980)[0]
    assert stats.explained_by(entity, step, 20, 30, 20, 980) and stats.explained_by(step, entity, 20, 30, 20, 980)


def test_a_slower_value_with_no_slow_unit_is_no_finding() -> None:
    """Shifted up but never among the slow ones (selection 0): not what the slow ones share."""
    rest = [float(x) for x in range(100, 200)]
    shifted = [x + 40.0 for x in rest]
    found = stats.slower([stats.Durations("region", "eu", 0, 100, shifted, rest)], 30, 300)
    assert found == []
    assert stats.slower([stats.Durations("region", "eu", 3, 100, shifted, rest)], 30, 300)  # with slow units: found
