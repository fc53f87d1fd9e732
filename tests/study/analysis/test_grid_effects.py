"""The three effects by one measure, the λ gain, the curve and the ranking from one family;
the race and its tie rule; the stopping rule. Pure numbers, ≥ 200 repetitions, exact binomial
limits."""

from __future__ import annotations

import numpy as np
from scipy import stats

from study.analysis import blocked_design as bd
from study.analysis import grid_effects, race, stopping

REPEATS = 240
# A λ optimum between grid points (λ ≈ 5, the grid has 1 and the winner's 3), a harmful λ = 100.
TRUTH = {"W": 0.600, "λ=0": 0.5725, "λ=0.01": 0.5525, "λ=1": 0.583, "λ=100": 0.561,
         "d=0": 0.590, "d=0.6": 0.570, "h=16": 0.580, "h=112": 0.595}
GRIDS = (grid_effects.Grid("λ", ("λ=0", "λ=0.01", "λ=1", "W", "λ=100"), (0, 0.01, 1, 3, 100)),
         grid_effects.Grid("dropout", ("d=0", "W", "d=0.6"), (0, 0.3, 0.6)),
         grid_effects.Grid("hidden", ("h=16", "W", "h=112"), (16, 64, 112)))
SPREAD = {g.factor: max(TRUTH[a] for a in g.arms) - min(TRUTH[a] for a in g.arms) for g in GRIDS}
GAIN = max(TRUTH[a] for a in ("λ=0.01", "λ=1", "W", "λ=100")) - TRUTH["λ=0"]


def _runs(rng, truth, n, run_sd=0.06, seed_sd=0.04):
    shared = rng.normal(0, seed_sd, n)
    return {a: {k: float(np.clip(t + shared[k] + rng.normal(0, run_sd), 0, 1)) for k in range(n)}
            for a, t in truth.items()}


def _covers(answer: grid_effects.GridAnswer) -> bool:
    effects = all(e.low <= SPREAD[e.factor] <= e.high for e in answer.effects)
    gain = answer.gain.low <= GAIN <= answer.gain.high
    curve = all(p.gain.low <= TRUTH[p.arm] - TRUTH["λ=0"] <= p.gain.high
                for p in answer.curve if p.gain is not None)
    return effects and gain and curve


def test_every_printed_interval_covers_at_once():
    rng = np.random.default_rng(11)
    covered = sum(_covers(grid_effects.measure(bd.fit(_runs(rng, TRUTH, 6)), GRIDS))
                  for _ in range(REPEATS))
    assert stats.binomtest(covered, REPEATS).proportion_ci(method="exact").high >= 0.95
    assert covered / REPEATS >= 0.93


def test_one_measure_names_its_points_and_ranks_from_the_family():
    rng = np.random.default_rng(12)
    answer = grid_effects.measure(bd.fit(_runs(rng, TRUTH, 30, run_sd=0.01)), GRIDS)
    lam = answer.effect("λ")
    assert (lam.best, lam.worst) == ("W", "λ=0.01") and lam.shown
    assert answer.order[0] == "λ" and answer.gaps[0].told_apart  # 4.75 vs 2 and 3 points
    assert [p.arm for p in answer.curve] == list(GRIDS[0].arms)
    assert answer.gain.best == "W" and answer.gain.low > 0
    assert answer.curve[-1].gain.high < 0  # λ = 100 loses against λ = 0, and it counts


def test_no_effect_is_not_called_and_the_correction_matters():
    """All arms equal: no effect shown in ≥ 95 %; a build that reads each pair at its own level
    (no simultaneous correction) calls one far more often."""
    flat = {a: 0.55 for a in TRUTH}
    rng = np.random.default_rng(13)
    called = uncorrected = 0
    for _ in range(REPEATS):
        design = bd.fit(_runs(rng, flat, 5))
        answer = grid_effects.measure(design, GRIDS)
        called += any(e.shown for e in answer.effects)
        pairs = [(a, b) for g in GRIDS for i, a in enumerate(g.arms) for b in g.arms[i + 1:]]
        alone = [bd.simultaneous(design, [p], paired=False).intervals[0] for p in pairs]
        uncorrected += any(iv.low > 0 or iv.high < 0 for iv in alone)
    assert stats.binomtest(called, REPEATS).proportion_ci(method="exact").low <= 0.05
    assert stats.binomtest(uncorrected, REPEATS).proportion_ci(method="exact").low > 0.05


def test_the_race_keeps_the_best_and_ties_go_to_the_cheapest_close_arm():
    truth = {"A": 0.60, "B": 0.60, "C": 0.50}
    cost = {"A": race.cheapest_first(3.0, 96), "B": race.cheapest_first(0.0, 64),
            "C": race.cheapest_first(0.0, 16)}
    rng = np.random.default_rng(14)
    lost_best = 0
    for _ in range(REPEATS):
        final = race.look(bd.fit(_runs(rng, truth, 5, run_sd=0.02)), race.per_look(0.95, 3))
        lost_best += "A" not in final.survivors and "B" not in final.survivors
    assert lost_best / REPEATS <= 0.05
    final = race.look(bd.fit(_runs(np.random.default_rng(15), truth, 40, run_sd=0.005)), 0.95)
    choice = race.choose(final, cost)
    assert "C" in final.eliminated and set(choice.tied) == {"A", "B"}
    assert choice.arm == "B" and "could not tell 2 configurations apart" in choice.rule


def test_precision_stopping_waits_for_the_minimum_and_stops_at_the_cap():
    design = bd.fit(_runs(np.random.default_rng(16), TRUTH, 3, run_sd=0.001))
    family = grid_effects.measure(design, GRIDS).family
    assert stopping.decide(family, 3, 0.5, max_seeds=20).more  # narrow, but only 3 seeds
    assert not stopping.decide(family, 5, 0.5, max_seeds=20).more
    assert not stopping.decide(family, 20, 1e-6, max_seeds=20).more
    assert stopping.decide(family, 6, 1e-6, max_seeds=20).more
