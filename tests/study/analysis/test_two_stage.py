"""The two-stage numbers: the race on stage-1 validation picks, stage 2's fresh seeds report."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from study.analysis import two_stage
from study.replicates.grids import factor_grids


@dataclass(frozen=True)
class Arm:
    key: str
    stage: int
    factor: str | None
    lam: float
    dropout: float
    hidden: int


def _arms() -> list[Arm]:
    stage1 = [Arm("trial=3", 1, "config", 3.0, 0.3, 64), Arm("trial=5", 1, "config", 0.0, 0.3, 32)]
    grids = factor_grids((3.0, 0.3, 64), lambda_range=(0.01, 100), dropout_range=(0.0, 0.6),
                         hidden_range=(16, 112, 16), points=2)
    stage2 = [Arm("winner", 2, None, 3.0, 0.3, 64)]
    for factor, points in grids.items():
        for p in points:
            if p.where == "winner":
                continue
            change = {"λ": {"lam": p.value}, "dropout": {"dropout": p.value},
                      "hidden": {"hidden": int(p.value)}}[factor]
            base = {"lam": 3.0, "dropout": 0.3, "hidden": 64, **change}
            stage2.append(Arm(f"{factor}={p.value:g}", 2, factor, **base))
    return stage1 + stage2


def test_grids_have_equal_size_and_meet_at_the_winner():
    grids = factor_grids((3.0, 0.25, 64), lambda_range=(0.01, 100), dropout_range=(0.0, 0.6),
                         hidden_range=(16, 112, 16), points=3)
    assert [p.value for p in grids["λ"]] == [0.0, 0.01, 3.0, 100.0]
    assert [p.value for p in grids["dropout"]] == [0.0, 0.25, 0.3, 0.6]
    assert [p.value for p in grids["hidden"]] == [16, 64, 112]  # the winner's 64 is the middle


def test_the_winner_is_reported_from_stage_two_seeds_only():
    arms = _arms()
    rng = np.random.default_rng(0)
    val = {"trial=3": {k: 0.70 + rng.normal(0, 0.01) for k in range(5)},
           "trial=5": {k: 0.50 + rng.normal(0, 0.01) for k in range(5)}}
    test = {a.key: {1000 + k: 0.60 + rng.normal(0, 0.02) for k in range(4)}
            for a in arms if a.stage == 2}
    numbers = two_stage.decide(arms, val, test, winner="winner", looks=3, race_over=True)
    assert numbers.race.choice.arm == "trial=3" and numbers.race.look.eliminated == ("trial=5",)
    assert numbers.winner.accuracy.n == 4 and abs(numbers.winner.accuracy.mean - 0.6) < 0.05
    assert numbers.winner.stage1_val > 0.65  # the race's figure is kept apart
    assert [g.factor for g in numbers.grids] == ["λ", "dropout", "hidden"]
    assert all("winner" in g.arms and len(g.arms) == 3 for g in numbers.grids)
    assert {e.factor for e in numbers.effects.effects} == {"λ", "dropout", "hidden"}


# -- simulated studies, pure numbers: a noisy search, independent validation and test noise ------
REPEATS = 200
SEED_SD, RUN_SD, VAL_SD = 0.03, 0.06, 0.03  # run noise as large as the default data's (6 points)


def _study(rng, truth, arms, stage1_seeds=5):
    """Stage-1 validation runs, stage-2 test runs on fresh seeds (1000 + k); a seed's luck lifts
    its validation and test scores together (the shared and the run's own part)."""
    val, test = {}, {}
    shared = rng.normal(0, SEED_SD, 2000)
    for a in arms:
        seeds = range(stage1_seeds) if a.stage == 1 else range(1000, 1005)
        runs = {k: truth[a.key] + shared[k] + rng.normal(0, RUN_SD) for k in seeds}
        val[a.key] = {k: float(np.clip(v + rng.normal(0, VAL_SD), 0, 1)) for k, v in runs.items()}
        test[a.key] = {k: float(np.clip(v, 0, 1)) for k, v in runs.items()}
    return val, test


def test_the_race_picks_on_validation_and_stage_two_reports_without_the_pick():
    """Three candidates: two within 1 point of each other, one 10 points worse; the search's
    single runs are noisy (15 points: short, pruned runs), so its best trial ("no race") is often the bad one. Over
    200 studies: the choice is within 1 point of the best truth in ≥ 95 % (exact limit), and the
    winner's reported accuracy (stage 2, fresh seeds) is unbiased and its interval covers."""
    from scipy import stats

    candidates = {"trial=1": Arm("trial=1", 1, "config", 1.0, 0.3, 64),
                  "trial=2": Arm("trial=2", 1, "config", 0.0, 0.3, 32),
                  "trial=3": Arm("trial=3", 1, "config", 10.0, 0.1, 96)}
    stage2 = [Arm("winner", 2, None, 0, 0, 0), Arm("λ=0", 2, "λ", 0.0, 0.3, 64)]
    rng = np.random.default_rng(7)
    within = covered = search_wrong = 0
    bias = []
    for _ in range(REPEATS):
        t = dict(zip(rng.permutation(["trial=1", "trial=2", "trial=3"]), (0.60, 0.595, 0.50)))
        search = {k: v + rng.normal(0, 0.15) for k, v in t.items()}
        search_wrong += t[max(search, key=search.get)] < max(t.values()) - 0.01
        # the plan lists the race's arms as the search ranked them
        arms = [candidates[k] for k in sorted(search, key=search.get, reverse=True)] + stage2
        val, test = _study(rng, {**t, "winner": 0.0, "λ=0": 0.0}, arms)
        numbers = two_stage.race_numbers(arms, val, looks=1, last=True)
        chosen = numbers.choice.arm
        within += t[chosen] >= max(t.values()) - 0.01
        # stage 2 trains the chosen configuration again, on fresh seeds
        top = candidates[chosen]
        arms = [*arms[:3], Arm("winner", 2, None, top.lam, top.dropout, top.hidden), stage2[1]]
        _, fresh = _study(rng, {**t, "winner": t[chosen], "λ=0": 0.5}, arms[3:])
        report = two_stage.decide(arms, val, {**test, **fresh}, winner="winner", looks=1,
                                  race_over=True)
        assert report.winner.stage1_val is not None  # the race's figure is there, kept apart
        ci = report.winner.accuracy
        covered += ci.low <= t[chosen] <= ci.high
        bias.append(ci.mean - t[chosen])
    assert search_wrong / REPEATS > 0.1  # the search alone would not do
    assert stats.binomtest(within, REPEATS).proportion_ci(method="exact").high >= 0.95
    assert stats.binomtest(covered, REPEATS).proportion_ci(method="exact").high >= 0.95
    assert abs(np.mean(bias)) < 3 * np.std(bias) / np.sqrt(REPEATS)  # no selection bias


def test_the_race_reads_validation_never_test():
    arms = [Arm("a", 1, "config", 1.0, 0.3, 64), Arm("b", 1, "config", 3.0, 0.3, 64)]
    val = {"a": {k: 0.70 + 0.001 * k for k in range(5)}, "b": {k: 0.60 + 0.002 * k for k in range(5)}}
    test = {"a": {k: 0.60 + 0.001 * k for k in range(5)}, "b": {k: 0.70 + 0.002 * k for k in range(5)}}
    numbers = two_stage.decide(arms, val, test, winner=None, looks=1, race_over=True)
    assert numbers.race.choice.arm == "a" and numbers.race.look.eliminated == ("b",)
