"""The race, the cheaper alternative, seeds where the uncertainty is and the winner's curse
against numbers computed by hand, and the race and precision stopping on simulated replicate runs
with a known truth."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from study.analysis import decision_rules, statistics
from tests.study.analysis import simulated as sim

T_DF2_975 = math.sqrt(2 * 0.975**2 / (1 - 0.975**2))  # two-sided 95 % over 2, df 2 (closed form)


def _t_cdf_df2(t: float) -> float:
    return 0.5 + t / (2 * math.sqrt(2 + t * t))


def test_race_round_by_hand():
    arms = {"leader": {0: 0.60, 1: 0.62, 2: 0.58},
            "far": {0: 0.50, 1: 0.53, 2: 0.49},  # − leader: −.10 −.09 −.09
            "close": {0: 0.61, 1: 0.60, 2: 0.57},  # +.01 −.02 −.01
            "one common seed": {0: 0.20, 9: 0.21}}  # far worse, but only seed 0 is paired
    race = decision_rules.race_round(arms)
    far_t = (-0.28 / 3) / (math.sqrt(1 / 3) / 100 / math.sqrt(3))  # −28.0
    close_t = (-0.02 / 3) / (math.sqrt(7 / 3) / 100 / math.sqrt(3))  # −0.7559
    p_far, p_close = _t_cdf_df2(far_t), _t_cdf_df2(close_t)  # one-sided: worse than the leader
    assert (p_far, p_close) == (pytest.approx(0.000637, abs=1e-6), pytest.approx(0.2643, abs=1e-4))
    far, close, single = race.comparisons
    assert race.leader == "leader"
    assert far.p_value == pytest.approx(p_far) and far.p_holm == pytest.approx(2 * p_far)
    assert close.p_value == pytest.approx(p_close) and close.p_holm == pytest.approx(p_close)
    assert (far.eliminated, far.reason) == (True, "significantly worse")
    half = 4.302653 * math.sqrt(1 / 3) / 100 / math.sqrt(3)  # t_{.975, 2} · s / √3
    assert (far.difference, far.low) == (pytest.approx(-0.28 / 3), pytest.approx(-0.28 / 3 - half))
    assert (close.eliminated, close.reason) == (False, "not significantly worse")
    assert (single.n, single.eliminated, single.reason) == (1, False, "fewer than 2 common seeds")
    assert math.isnan(single.p_holm)  # not tested: not in Holm's family of 2
    assert race.eliminated == ("far",)
    assert race.survivors == ("leader", "close", "one common seed")
    json.dumps(race.as_dict())


def test_race_leader_ties_go_to_more_seeds_and_constant_differences_are_kept():
    arms = {"a": {0: 0.5, 1: 0.75}, "b": {0: 0.625, 1: 0.5, 2: 0.75},  # both mean 0.625
            "c": {0: 0.5, 1: 0.375, 2: 0.625}}  # − b: −.125 on every seed: no spread, no verdict
    race = decision_rules.race_round(arms)
    assert race.leader == "b" and race.eliminated == ()
    assert [c.reason for c in race.comparisons] == ["not significantly worse", "no spread"]
    assert decision_rules.race_confidence(0.95, 10) == pytest.approx(0.995)


def test_race_keeps_the_best_as_winner_when_enough_seeds_are_given():
    truth = {f"config {i}": v
             for i, v in enumerate([0.60, 0.595, 0.59, 0.58, 0.57, 0.56, 0.55, 0.52])}
    max_seeds, first = 10, 3
    confidence = decision_rules.race_confidence(0.95, max_seeds - first + 1)  # α spread over rounds
    good = best_kept = 0
    for repeat in range(20):
        rng = np.random.default_rng(4_000 + repeat)
        runs = sim.runs(truth, list(range(max_seeds)), rng)
        survivors, seeds = list(truth), first
        while True:  # every survivor gets the next seed each round
            race = decision_rules.race_round({a: {k: runs[a][k] for k in range(seeds)}
                                         for a in survivors}, confidence)
            survivors = list(race.survivors)
            if seeds == max_seeds or len(survivors) == 1:
                break
            seeds += 1
        good += truth[race.leader] >= 0.59 - 1e-12  # the best or within 1 point of it
        best_kept += "config 0" in survivors
    assert good >= 18 and best_kept >= 19  # measured 98.8 % and 99.4 % over 500 repeats


def test_a_race_round_rarely_eliminates_a_truly_best_arm():
    # Two arms tied at the top and eight clearly worse: Holm's freed α goes to the tie.
    truth = {"best": 0.60, "tied": 0.60, **{f"bad {i}": 0.45 for i in range(8)}}
    out = sum("best" in decision_rules.race_round(sim.runs(truth, list(range(5)),
                                                      np.random.default_rng(r))).eliminated
              for r in range(200))
    assert out <= 20  # nominal 5 % (10 of 200); measured 4.8 % over 4,000 rounds


def test_cheaper_alternative_by_hand_must_be_shown_non_inferior():
    winner = {0: 0.60, 1: 0.62, 2: 0.58}
    arms = {"winner": winner,
            "hidden 64": {k: v + d for (k, v), d in zip(winner.items(), (-0.002, -0.001, -0.003))},
            "hidden 32": {0: 0.55, 1: 0.57, 2: 0.52},  # about 5 points worse
            "hidden 16": {0: 0.60, 5: 0.60},  # one common seed: not tested
            "hidden 256": {0: 0.70, 1: 0.70, 2: 0.71}}  # bigger: not a cheaper alternative
    hidden = {"winner": 128, "hidden 64": 64, "hidden 32": 32, "hidden 16": 16,
              "hidden 256": 256}
    found = decision_rules.cheaper_alternative(arms, hidden, "winner")
    half = T_DF2_975 * 0.001 / math.sqrt(3)  # differences −.002 −.001 −.003: s = .001; 2 tested
    own = statistics.mean_ci(list(arms["hidden 64"].values()))
    assert (found.arm, found.hidden, found.winner_hidden, found.n) == ("hidden 64", 64, 128, 3)
    assert found.difference == pytest.approx(-0.002)
    assert (found.low, found.high) == (pytest.approx(-0.002 - half), pytest.approx(-0.002 + half))
    assert (found.mean, found.mean_low, found.mean_high) == (own.mean, own.low, own.high)
    assert found.tested == ("hidden 64", "hidden 32")
    # A tighter margin than the lower bound (−0.56 points): nothing is shown non-inferior.
    none = decision_rules.cheaper_alternative(arms, hidden, "winner", margin=0.005)
    assert none.arm is None and math.isnan(none.difference) and none.tested == found.tested
    json.dumps(none.as_dict())
    with pytest.raises(ValueError, match="needs its hidden size"):
        decision_rules.cheaper_alternative(arms, {"winner": 128}, "winner")


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
