"""The blocked fit and its simultaneous families: exact quantiles against statsmodels' studentized
range, coverage by simulation with exact binomial limits, and the broken builds that must fail
(no max-t correction, seeds not blocked)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.libqsturng import qsturng

from study.analysis import blocked_design as bd

REPEATS = 300


def _runs(rng, truth, n, run_sd=0.06, seed_sd=0.04, unstable=None):
    shared = rng.normal(0, seed_sd, n)
    return {a: {k: float(np.clip(t + shared[k] + rng.normal(0, run_sd * (3 if a == unstable
                                                                          else 1)), 0, 1))
                for k in range(n)} for a, t in truth.items()}


def _exact(successes: int, trials: int):
    return stats.binomtest(successes, trials).proportion_ci(0.95, method="exact")


def test_max_t_quantile_is_tukeys_for_every_pair():
    for arms, df in ((4, 18), (6, 12)):
        rows = []
        for i, j in itertools.combinations(range(arms), 2):
            row = np.zeros(arms)
            row[i], row[j] = 1.0, -1.0
            rows.append(row)
        cov = np.array(rows) @ np.array(rows).T
        corr = cov / np.outer(np.sqrt(np.diag(cov)), np.sqrt(np.diag(cov)))
        assert bd.max_t_quantile(corr, df, 0.95) == pytest.approx(
            qsturng(0.95, arms, df) / np.sqrt(2), abs=0.02)


def test_one_contrast_is_students_t():
    assert bd.max_t_quantile(np.eye(1), 7, 0.95) == pytest.approx(stats.t.ppf(0.975, 7))


def test_blocking_removes_the_seed_and_pools_the_variance():
    rng = np.random.default_rng(1)
    arms = _runs(rng, {f"a{i}": 0.5 for i in range(10)}, 3, run_sd=0.02, seed_sd=0.10)
    design = bd.fit(arms)
    assert design.df == (10 - 1) * (3 - 1)
    assert design.sd < 0.04  # the 10-point seed effect is gone
    family = bd.simultaneous(design, bd.against("a0", design.arms), paired=False)
    assert family.critical < 3.0  # Bonferroni-t over 9 with 2 df would be 9.9
    assert all(iv.half_width < 0.06 for iv in family.intervals)


def test_unbalanced_seeds_fit_and_a_lonely_arm_is_refused():
    rng = np.random.default_rng(2)
    arms = _runs(rng, {"a": 0.5, "b": 0.55, "c": 0.6}, 6)
    arms["c"] = {k: v for k, v in arms["c"].items() if k < 3}  # left the race after 3 seeds
    design = bd.fit(arms)
    assert design.n("c") == 3 and design.df == 15 - 3 - 5
    assert bd.simultaneous(design, bd.all_pairs(design.arms)).get("c", "a").n == 3
    with pytest.raises(ValueError, match="share a seed"):
        bd.fit({"a": {0: 0.5, 1: 0.6}, "b": {2: 0.5, 3: 0.4}})
    with pytest.raises(ValueError, match="fractions"):
        bd.fit({"a": {0: 50.0}})


def _coverage(rng, truth, n, pairs, *, paired=None, unstable=None):
    covered = 0
    for _ in range(REPEATS):
        arms = _runs(rng, truth, n, unstable=unstable)
        family = bd.simultaneous(bd.fit(arms), pairs, paired=paired)
        covered += all(iv.low <= truth[iv.a] - truth[iv.b] <= iv.high for iv in family.intervals)
    return covered


TRUTH = {"a0": 0.55, "a1": 0.57, "a2": 0.60, "a3": 0.52, "a4": 0.58, "a5": 0.55}


@pytest.mark.parametrize("pairs", [bd.all_pairs(TRUTH), bd.against("a0", TRUTH)],
                         ids=["tukey", "dunnett"])
def test_families_cover_together(pairs):
    covered = _coverage(np.random.default_rng(3), TRUTH, 5, pairs)
    assert _exact(covered, REPEATS).high >= 0.95  # not shown below 95 %
    assert covered / REPEATS >= 0.92


def test_without_the_max_t_correction_coverage_falls():
    """The same family at the per-contrast level (a build with the correction switched off)."""
    rng = np.random.default_rng(4)
    covered = 0
    for _ in range(REPEATS):
        design = bd.fit(_runs(rng, TRUTH, 5))
        pairs = bd.all_pairs(TRUTH)
        one = [bd.simultaneous(design, [p], paired=False).intervals[0] for p in pairs]
        covered += all(iv.low <= TRUTH[iv.a] - TRUTH[iv.b] <= iv.high for iv in one)
    assert _exact(covered, REPEATS).high < 0.95


def test_unequal_spread_is_detected_and_the_fallback_covers():
    rng = np.random.default_rng(5)
    flagged = covered = 0
    pairs = bd.against("a0", TRUTH)
    for _ in range(REPEATS):
        design = bd.fit(_runs(rng, TRUTH, 8, unstable="a2"))
        flagged += design.spread.unequal
        family = bd.simultaneous(design, pairs)
        covered += all(iv.low <= TRUTH[iv.a] - TRUTH[iv.b] <= iv.high for iv in family.intervals)
    assert flagged / REPEATS > 0.8
    assert _exact(covered, REPEATS).high >= 0.95 and covered / REPEATS >= 0.92
    assert bd.simultaneous(design, pairs).method.startswith("paired t")


def test_pooling_an_unstable_arm_without_the_fallback_under_covers():
    covered = _coverage(np.random.default_rng(6), TRUTH, 8, bd.against("a0", TRUTH),
                        paired=False, unstable="a2")
    assert _exact(covered, REPEATS).high < 0.95
