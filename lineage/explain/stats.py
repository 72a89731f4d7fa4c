"""The statistics of "why?": which dimension values the selection has more of than its baseline,
and when the subject's rate changed. Pure functions over counts (no I/O).

For "slow", the test per dimension value compares durations instead: a one-sided two-sample
Kolmogorov-Smirnov test of the value's durations against the rest's (bounded samples of each).
Otherwise the test per dimension value is Fisher's exact test, one-sided (the value's share is greater in
the selection than in the baseline): exact at any count, so a value seen five times is judged as
fairly as one seen five thousand times. All values of all dimensions of one question form one
family, corrected with Holm's step-down method, which bounds the chance of reporting *any*
finding on data without a cause (the family-wise error rate) by the stated level.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2, fisher_exact, ks_2samp

LEVEL = 0.05  # family-wise error rate of every answer
TEST = "Fisher's exact test, one-sided (share in selection > share in baseline)"
LATENCY_TEST = (
    "Kolmogorov-Smirnov two-sample test, one-sided (durations of the value slower than the rest), "
    "on bounded random samples of each"
)
CORRECTION = "Holm step-down over every dimension value of the question (family-wise error rate)"
MIN_SAMPLE = 8  # fewer durations on either side: no test (p = 1, still counted in the family)
_EXACT_UP_TO = 10_000  # sample size product up to which the KS p-value is exact (else asymptotic)


@dataclass(frozen=True)
class Cell:
    """How many of the selection and of the baseline carry one dimension value."""

    dimension: str
    value: str
    selection: int
    baseline: int


@dataclass(frozen=True)
class Finding:
    """A value over-represented in the selection, with its corrected p-value."""

    dimension: str
    value: str
    selection: int
    baseline: int
    share_selection: float
    share_baseline: float
    p_value: float
    lift: float  # share in selection / share in baseline (inf when the baseline has none)


def _p(cell: Cell, n_sel: int, n_base: int) -> float:
    table = [[cell.selection, n_sel - cell.selection], [cell.baseline, n_base - cell.baseline]]
    return float(fisher_exact(table, alternative="greater")[1])


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input's order (monotone, capped at 1)."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    out = [1.0] * len(p_values)
    running = 0.0
    m = len(p_values)
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        out[i] = running
    return out


def _share(n: int, total: int) -> float:
    return n / total if total else 0.0


def findings(cells: Sequence[Cell], n_sel: int, n_base: int, level: float = LEVEL) -> list[Finding]:
    """The values whose share is significantly greater in the selection, at ``level`` after
    Holm's correction over every cell given. Values no selected row carries are never findings
    (they are still counted in the family, so adding dimensions never makes a finding easier)."""
    if n_sel == 0 or n_base == 0 or not cells:
        return []
    raw = [_p(c, n_sel, n_base) if c.selection else 1.0 for c in cells]
    adjusted = holm(raw)
    out = []
    for c, p in zip(cells, adjusted, strict=True):
        if p > level:
            continue
        s, b = _share(c.selection, n_sel), _share(c.baseline, n_base)
        out.append(Finding(c.dimension, c.value, c.selection, c.baseline, s, b, p, s / b if b else math.inf))
    return sorted(out, key=lambda f: (f.p_value, -f.selection, f.dimension, f.value))


@dataclass(frozen=True)
class Durations:
    """One dimension value's durations (a sample) beside those of its baseline (a sample), with
    its counts in the selection and the baseline (for the shares shown)."""

    dimension: str
    value: str
    selection: int
    baseline: int
    durations: Sequence[float]
    rest: Sequence[float]


def slower_p(durations: Sequence[float], rest: Sequence[float]) -> float:
    """One-sided KS p-value that ``durations`` are stochastically greater than ``rest`` (their
    distribution function lies below the rest's somewhere); 1 when either side is too small."""
    if len(durations) < MIN_SAMPLE or len(rest) < MIN_SAMPLE:
        return 1.0
    method = "exact" if len(durations) * len(rest) <= _EXACT_UP_TO else "asymp"
    return float(ks_2samp(durations, rest, alternative="less", method=method).pvalue)


def _higher(durations: Sequence[float], rest: Sequence[float]) -> bool:
    """Slower where it matters: a greater median or 90th percentile than the rest's. (The
    one-sided KS test also answers for a value slower than part of the rest only, e.g. 2 minutes
    against a rest of 1 and 3.)"""
    return any(float(np.quantile(durations, q)) > float(np.quantile(rest, q)) for q in (0.5, 0.9))


def slower(values: Sequence[Durations], n_sel: int, n_base: int, level: float = LEVEL) -> list[Finding]:
    """The values whose durations are significantly slower than their baseline's, at ``level``
    after Holm's correction over every value given (the same family-wise promise as
    :func:`findings`), whose median or 90th percentile is the greater, and which carry at least
    one slow unit (a value slower overall but with none among the slow ones is not what they
    have in common)."""
    if not values:
        return []
    adjusted = holm([slower_p(v.durations, v.rest) for v in values])
    out = []
    for v, p in zip(values, adjusted, strict=True):
        if p > level or not v.selection or not _higher(v.durations, v.rest):
            continue
        s, b = _share(v.selection, n_sel), _share(v.baseline, n_base)
        out.append(Finding(v.dimension, v.value, v.selection, v.baseline, s, b, p, s / b if b else math.inf))
    return sorted(out, key=lambda f: (f.p_value, -f.selection, f.dimension, f.value))


def explains_more(pair: Finding, singles: Sequence[Finding], factor: float = 1.5) -> bool:
    """A pair is worth naming when its lift clearly exceeds that of each of its parts."""
    return all(pair.lift >= factor * s.lift for s in singles if s.lift != math.inf) and pair.lift > 1


def explained_by(a: Finding, b: Finding, both_sel: int, both_base: int, n_sel: int, n_base: int) -> bool:
    """Is ``a``'s excess ``b``'s (``both_*``: units carrying both)? Yes when, without ``b``'s units,
    ``a`` is not over-represented, and within ``a``'s units ``b`` is (Fisher's exact test, one-sided,
    at the level, each). A region whose failures are one legal entity's is explained by it; two
    names of the same units, or a cause and a part of it failing alike, are not."""
    outside = Cell(a.dimension, a.value, a.selection - both_sel, a.baseline - both_base)
    inside = Cell(b.dimension, b.value, both_sel, both_base)
    return not findings([outside], n_sel - b.selection, n_base - b.baseline) and bool(
        findings([inside], a.selection, a.baseline)
    )


@dataclass(frozen=True)
class ChangePoint:
    """The bucket where the subject's rate changed most, with the rates before and after."""

    index: int
    rate_before: float
    rate_after: float
    p_value: float


def _loglik(k: int, n: int) -> float:
    if n == 0 or k in (0, n):
        return 0.0
    p = k / n
    return k * math.log(p) + (n - k) * math.log(1 - p)


def change_point(hits: Sequence[int], totals: Sequence[int], level: float = LEVEL) -> ChangePoint | None:
    """The single split of the series into two constant rates with the greatest likelihood
    ratio over one rate, when the rate rose and the ratio is significant after a Bonferroni
    correction over the candidate splits (a likelihood-ratio test with one degree of freedom);
    None otherwise."""
    n = len(totals)
    if n < 3 or sum(totals) == 0:
        return None
    k_all, n_all = sum(hits), sum(totals)
    whole = _loglik(k_all, n_all)
    best: tuple[float, int] | None = None
    k_left = n_left = 0
    for i in range(1, n):
        k_left += hits[i - 1]
        n_left += totals[i - 1]
        n_right = n_all - n_left
        if n_left == 0 or n_right == 0:
            continue
        gain = _loglik(k_left, n_left) + _loglik(k_all - k_left, n_right) - whole
        if best is None or gain > best[0]:
            best = (gain, i)
    if best is None:
        return None
    gain, i = best
    before_n = sum(totals[:i])
    before, after = sum(hits[:i]) / before_n, sum(hits[i:]) / (n_all - before_n)
    p = min(1.0, float(chi2.sf(2 * gain, 1)) * (n - 1))
    if after <= before or p > level:
        return None
    return ChangePoint(i, before, after, p)


@dataclass(frozen=True)
class Onset:
    """One value's units and subject units before and after a change point."""

    dimension: str
    value: str
    hits_before: int
    n_before: int
    hits_after: int
    n_after: int


def risen(onsets: Sequence[Onset], level: float = LEVEL) -> list[tuple[Onset, float]]:
    """The values implicated in a change: after it, the value's own subject rate is greater than
    that of the other values of its dimension (Fisher's exact test, one-sided), and it rose from
    before; Holm-corrected over the values given. A value every unit carries has no others to
    compare with and is never named."""
    after: dict[str, tuple[int, int]] = {}
    for o in onsets:
        hits, n = after.get(o.dimension, (0, 0))
        after[o.dimension] = (hits + o.hits_after, n + o.n_after)
    raw = []
    for o in onsets:
        hits, n = after[o.dimension]
        other_hits, other_n = hits - o.hits_after, n - o.n_after
        rose = o.n_before > 0 and o.n_after > 0 and o.hits_after / o.n_after > o.hits_before / o.n_before
        if not rose or other_n == 0:
            raw.append(1.0)
            continue
        table = [[o.hits_after, o.n_after - o.hits_after], [other_hits, other_n - other_hits]]
        raw.append(float(fisher_exact(table, alternative="greater")[1]))
    return [(o, p) for o, p in zip(onsets, holm(raw), strict=True) if p <= level]
