"""Benchmark 9: does the answer keep its promises? Pure-number simulations of the two stages with
the service's own functions (`study.analysis.blocked_design`, `grid_effects`, `race`,
`stopping`), no training.

- Stage 2 coverage: 9 arms (the winner; λ = 0, 0.01, 1, 100 around it, the optimum between grid
  points at λ ≈ 5 and a harmful λ = 100; dropout 0, 0.6; hidden 16, 112), 2 points of seed noise
  shared by a seed's arms plus run noise of 2 or 3 points, equal spread or one arm (λ = 100) with
  3× the run noise; 3 seeds, then the stopping rule (at least 5, then rounds of 3 while the
  widest half-width is above ±2.5 points, at most 20). Coverage: every interval of the family covers its
  truth (then every printed effect, gain and curve point covers too), with exact binomial limits.
- Stage 1: 3 candidates 0 / −0.5 / −3 points from the best, validation noise of its own; the
  race with α spread over its looks and the tie rule; how often the chosen configuration's truth
  is within 1 point of the best.
- Runs to reach ±1.5 points on the effects, today's method (paired t, Bonferroni per effect, 13
  arms) against the blocked fit (max-|t| over the 27 pairs of the paper grids, 11 arms + the race).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import sys

import numpy as np
from scipy import stats

from bench.common import section, table, update_section
from study.analysis import blocked_design, grid_effects, race, stopping

POINT = 0.01
TRUTH = {  # stage 2 arms, fractions; the winner is λ = 3, dropout 0.3, hidden 64
    "W": 0.600, "λ=0": 0.5725, "λ=0.01": 0.5525, "λ=1": 0.583, "λ=100": 0.561,
    "d=0": 0.590, "d=0.6": 0.570, "h=16": 0.580, "h=112": 0.595}
GRIDS = (grid_effects.Grid("λ", ("λ=0", "λ=0.01", "λ=1", "W", "λ=100"), (0, 0.01, 1, 3, 100)),
         grid_effects.Grid("dropout", ("d=0", "W", "d=0.6"), (0, 0.3, 0.6)),
         grid_effects.Grid("hidden", ("h=16", "W", "h=112"), (16, 64, 112)))


def _runs(rng, truth, seeds, run_sd, seed_sd=2 * POINT, unstable=None):
    shared = {k: rng.normal(0, seed_sd) for k in seeds}
    return {a: {k: float(np.clip(t + shared[k] + rng.normal(
        0, run_sd * (3 if a == unstable else 1)), 0, 1)) for k in seeds} for a, t in truth.items()}


def stage2(studies: int, run_sd: float, unstable: str | None, min_seeds: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    covered = seeds_sum = width_sum = paired = 0
    for _ in range(studies):
        n = 3
        arms = _runs(rng, TRUTH, range(n), run_sd, unstable=unstable)
        while True:
            answer = grid_effects.measure(blocked_design.fit(arms), GRIDS)
            step = stopping.decide(answer.family, n, 2.5 * POINT, min_seeds=min_seeds,
                                   max_seeds=20)
            if not step.more:
                break
            step_seeds = min(2 if n < 5 else 3, 20 - n)  # 3 → 5, then rounds of 3
            more = _runs(rng, TRUTH, range(n, n + step_seeds), run_sd, unstable=unstable)
            arms = {a: {**arms[a], **more[a]} for a in arms}
            n += step_seeds
        covered += all(iv.low <= TRUTH[iv.a] - TRUTH[iv.b] <= iv.high
                       for iv in answer.family.intervals)
        paired += answer.family.method.startswith("paired")
        seeds_sum += n
        width_sum += step.widest
    ci = stats.binomtest(covered, studies).proportion_ci(0.95, method="exact")
    return {"run SD": f"{run_sd / POINT:g}", "spread": "unequal (λ=100 ×3)" if unstable else
            "equal", "min seeds": min_seeds, "studies": studies,
            "coverage": f"{covered / studies:.1%} ({ci.low:.1%} … {ci.high:.1%})",
            "paired fallback": f"{paired / studies:.0%}", "mean seeds": seeds_sum / studies,
            "mean widest ±": width_sum / studies / POINT}


def stage1(studies: int, run_sd: float, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    truth = {"A": 0.60, "B": 0.595, "C": 0.57}
    cost = {"A": (True, 96, 3.0), "B": (False, 64, 0.0), "C": (True, 32, 1.0)}
    looks_max, within = 4, 0
    for _ in range(studies):
        racing, n, arms = list(truth), 3, {}
        for look_no in range(looks_max):
            new = _runs(rng, {a: truth[a] for a in racing}, range(n - 3, n), run_sd)
            arms = {a: {**arms.get(a, {}), **new[a]} for a in racing}
            final = race.look(blocked_design.fit(arms), race.per_look(0.95, looks_max))
            racing = list(final.survivors)
            if final.decided or look_no == looks_max - 1:
                break
            n += 3
        chosen = race.choose(final, cost).arm
        within += truth[chosen] >= max(truth.values()) - POINT
    ci = stats.binomtest(within, studies).proportion_ci(0.95, method="exact")
    return {"run SD": f"{run_sd / POINT:g}", "studies": studies,
            "chosen within 1 point of the best": f"{within / studies:.1%} ({ci.low:.1%} … "
                                                 f"{ci.high:.1%})"}


def _correlation(design, pairs) -> np.ndarray:
    index = {a: i for i, a in enumerate(design.arms)}
    contrasts = np.zeros((len(pairs), len(design.arms)))
    for row, (a, b) in enumerate(pairs):
        contrasts[row, index[a]], contrasts[row, index[b]] = 1.0, -1.0
    cov = contrasts @ design.cov @ contrasts.T
    return cov / np.outer(np.sqrt(np.diag(cov)), np.sqrt(np.diag(cov)))


def _first(half_width, target: float, low: int, high: int = 400) -> int:
    """The smallest n in [low, high] with half_width(n) ≤ target (half_width falls with n)."""
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if half_width(middle) <= target else (middle + 1, high)
    return low


def runs_to_target(sd: float, target: float = 1.5 * POINT) -> dict:
    """Expected runs until the effects' half-width is ≤ target (the SD taken as known)."""
    def today(family):  # paired t over n − 1 df, Bonferroni over the effect's candidates
        return lambda n: stats.t.ppf(1 - 0.05 / (2 * family), n - 1) * sd * math.sqrt(2 / n)

    # The paper grids at the winner: λ 0 + 5 points + the winner's, dropout and hidden 3 points
    # each (the winner among them): 11 arms, 21 + 3 + 3 = 27 pairs. Balanced, so the contrasts'
    # correlation is the same for every n; only the residual df, 10 (n − 1), changes.
    rng = np.random.default_rng(0)
    names = [f"a{i}" for i in range(11)]
    design = blocked_design.fit({a: {k: float(0.5 + rng.normal(0, 0.01)) for k in range(3)}
                                 for a in names})
    pairs = []
    for grid in ((0, 1, 2, 3, 4, 5, 6), (7, 0, 8), (9, 0, 10)):
        pairs += [(names[a], names[b]) for i, a in enumerate(grid) for b in grid[i + 1:]]
    corr = _correlation(design, pairs)

    def blocked(n):
        return blocked_design.max_t_quantile(corr, 10 * (n - 1), 0.95) * sd * math.sqrt(2 / n)

    # Today's paper plan: 7 λ-curve arms (the best among them; the λ effect: Bonferroni over 6),
    # 4 ends (dropout, hidden: over 2 each), 2 more candidates (racing, at least 5 seeds); rounds
    # add seeds only where an interval is still wide, so each group stops at its own count.
    n_lam, n_end = _first(today(6), target, 2), _first(today(2), target, 2)
    before = 7 * n_lam + 4 * n_end + 2 * 5
    n_new = _first(blocked, target, 5)
    after = 11 * n_new + 15
    return {"run SD": f"{sd / POINT:g}",
            "today: 7 × λ seeds + 4 × end seeds + 2 × 5": f"7 × {n_lam} + 4 × {n_end} + 10 = "
                                                           f"{before}",
            "blocked: 11 × seeds + race 3 × 5": f"11 × {n_new} + 15 = {after}",
            "ratio": after / before}


def few_seeds(n: int, sd: float = 6 * POINT) -> dict:
    """The λ effect's half-width at n seeds (the SD taken as known), quick profile, default
    data's noise: today (the curve's 3 points against λ = 0, paired t on n − 1 df, Bonferroni
    over 3) against stage 2 (7 arms, 9 pairs, max-|t| on 6 (n − 1) df)."""
    rng = np.random.default_rng(0)
    names = [f"a{i}" for i in range(7)]
    design = blocked_design.fit({a: {k: float(0.5 + rng.normal(0, 0.01)) for k in range(3)}
                                 for a in names})
    pairs = []
    for grid in ((0, 1, 2), (3, 0, 4), (5, 0, 6)):
        pairs += [(names[a], names[b]) for i, a in enumerate(grid) for b in grid[i + 1:]]
    critical = blocked_design.max_t_quantile(_correlation(design, pairs), 6 * (n - 1), 0.95)
    today = stats.t.ppf(1 - 0.05 / 6, n - 1)
    return {"seeds": n, "run SD": f"{sd / POINT:g}",
            "today ± points": today * sd * math.sqrt(2 / n) / POINT,
            "blocked ± points": critical * sd * math.sqrt(2 / n) / POINT,
            "critical today / blocked": f"{today:.2f} / {critical:.2f}"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=2000)
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args(argv)
    settings = [(2, None, 5), (3, None, 5), (2, "λ=100", 5), (3, "λ=100", 5), (3, None, 3)]
    # One process per setting: the simulations are independent and CPU-bound.
    with multiprocessing.Pool(len(settings) + 2) as pool:
        jobs2 = [pool.apply_async(stage2, (args.studies, sd * POINT, unstable, m, i))
                 for i, (sd, unstable, m) in enumerate(settings)]
        jobs1 = [pool.apply_async(stage1, (args.studies, sd * POINT, 10 + sd)) for sd in (2, 3)]
        rows2 = [job.get() for job in jobs2]
        rows1 = [job.get() for job in jobs1]
    print(table(rows2), file=sys.stderr)
    print(table(rows1), file=sys.stderr)
    rows3 = [runs_to_target(sd * POINT) for sd in (1.8, 3.0, 6.0)]
    print(table(rows3), file=sys.stderr)
    rows4 = [few_seeds(n) for n in (3, 5, 10)]
    print(table(rows4), file=sys.stderr)
    if args.write:
        body = "\n\n".join([table(rows2), table(rows1), table(rows3), table(rows4)])
        update_section("answer-coverage", section("12. The answer's coverage (simulated)", "cpu",
                                                  body))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
