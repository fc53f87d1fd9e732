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
