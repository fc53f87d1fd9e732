"""Seeds where the uncertainty is, seeds a target needs, precision stopping on simulated runs
and the winner's curse, against numbers computed by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from study.analysis import decision_rules, statistics

T_DF2_975 = math.sqrt(2 * 0.975**2 / (1 - 0.975**2))  # two-sided 95 % over 2, df 2 (closed form)


def _t_cdf_df2(t: float) -> float:
    return 0.5 + t / (2 * math.sqrt(2 + t * t))


def test_seeds_go_where_the_interval_is_wide_not_where_it_is_significant():
    plan = decision_rules.seeds_to_add(
        {"λ effect": 0.05, "dropout": 0.01, "hidden": math.nan, "reference": 0.08},
        target_half_width=0.02, seeds={"λ effect": 5, "dropout": 5, "hidden": 1,
                                       "reference": 10}, max_seeds=10,
        arms_of={"λ effect": ["λ=3", "λ=0"], "hidden": ["best", "hidden 32"],
                 "dropout": ["best", "dropout 0.5"], "reference": ["λ=10", "λ=0"]})
    assert plan.comparisons == ("λ effect", "hidden")  # nan: no interval yet, so wider
    assert plan.arms == ("λ=3", "λ=0", "best", "hidden 32")
    assert (plan.reached, plan.capped) == (("dropout",), ("reference",))
    json.dumps(plan.as_dict())


def test_seeds_needed_by_the_t_table():
    # t_{.975, 10} = 2.228: 2.228 · .03 / √11 = .0202 > .02; t_{.975, 11} = 2.201: .0191 ≤ .02
    assert decision_rules.seeds_needed(0.03, 0.02) == 12
    assert decision_rules.seeds_needed(0.03, 0.02, family=3) > 12  # simultaneous: wider quantile
    assert decision_rules.seeds_needed(0.0, 0.02) == 2
    assert decision_rules.seeds_needed(math.nan, 0.02) is None
    assert decision_rules.seeds_needed(0.03, 0.0001, max_seeds=100) is None


def test_precision_stopping_reaches_the_target_and_keeps_coverage():
    sds = {"λ effect": 0.02, "dropout": 0.03, "hidden": 0.045, "reference": 0.06}
    target, max_seeds, covered, total = 0.025, 60, 0, 0
    for repeat in range(20):
        rng = np.random.default_rng(5_000 + repeat)
        # per-seed paired differences; the truth is 0.01 for every comparison
        diffs = {name: list(0.01 + rng.normal(0.0, sd, 3)) for name, sd in sds.items()}
        while True:
            cis = {name: statistics.mean_ci(d) for name, d in diffs.items()}
            plan = decision_rules.seeds_to_add({n: c.half_width for n, c in cis.items()}, target,
                                          {n: len(d) for n, d in diffs.items()}, max_seeds)
            if not plan.comparisons:
                break
            for name in plan.comparisons:
                diffs[name].append(0.01 + rng.normal(0.0, sds[name]))
        assert plan.capped == () and set(plan.reached) == set(sds)
        for name, ci in cis.items():
            assert ci.half_width <= target
            assert decision_rules.seeds_needed(ci.std, target) <= ci.n  # the ETA agrees with the rule
            covered += ci.low <= 0.01 <= ci.high
            total += 1
    assert covered >= 0.9 * total


def test_winners_curse_by_hand():
    curse = decision_rules.winners_curse(0.65, {3: 0.5, 4: 0.6, 5: 0.7})
    half = 0.248414  # t_{.975, 2} · 0.1 / √3, as in test_statistics
    assert (curse.n, curse.replicated, curse.curse) == (3, pytest.approx(0.6), pytest.approx(0.05))
    assert curse.low == pytest.approx(0.05 - half, abs=1e-6)
    assert curse.high == pytest.approx(0.05 + half, abs=1e-6)
    one = decision_rules.winners_curse(0.65, [0.6])
    assert one.curse == pytest.approx(0.05) and math.isnan(one.low)
    json.dumps(one.as_dict())
