"""The answer's numbers from a two-stage replicate plan.

Stage 1 races the search's top configurations on validation accuracy (`race`); stage 2 trains, on
fresh seeds, the chosen configuration and the one-factor grids around it, and everything the
answer prints about accuracy comes from stage 2's test accuracy: the winner's replicated accuracy
(its stage-2 seeds only, so the luck that picked it in stage 1 does not flatter it), the λ curve,
the three effects and their ranking (`grid_effects`). Pure: arms and runs in, numbers out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from study.analysis import blocked_design, grid_effects, race, statistics

CONFIDENCE = 0.95


class StageArm(Protocol):
    """What the numbers read of an arm (study.replicates' Arm has these)."""

    key: str
    stage: int  # 1: the race; 2: the winner and its grids
    factor: str | None  # stage 2: "λ", "dropout", "hidden" (None: the winner itself)
    lam: float
    dropout: float
    hidden: int


Runs = Mapping[str, Mapping[int, float]]  # arm → seed → accuracy (a fraction)


@dataclass(frozen=True)
class RaceNumbers:
    look: race.RaceLook  # the last look, at its per-look confidence
    looks: int  # looks the race may take at most (its α is spread over them)
    choice: race.Choice | None  # None while the race goes on


@dataclass(frozen=True)
class WinnerAccuracy:
    arm: str
    accuracy: statistics.MeanCI  # test accuracy over its stage-2 seeds (seed luck included)
    stage1_val: float | None  # its mean validation accuracy in the race (for the curse)


@dataclass(frozen=True)
class TwoStage:
    race: RaceNumbers | None
    winner: WinnerAccuracy | None  # from stage 2 (None before stage 2 has a run)
    grids: tuple[grid_effects.Grid, ...]  # stage 2, at the winner
    effects: grid_effects.GridAnswer | None  # on stage-2 test accuracy
    spread_note: str  # what the fit says about unequal spread, in words ("" when alike)


def race_numbers(arms: Sequence[StageArm], val: Runs, *, looks: int, last: bool,
                 eliminated: Sequence[str] = ()) -> RaceNumbers | None:
    """The race on stage-1 validation accuracy, arms that left earlier staying out; with `last`
    (no further look), the choice by the tie rule."""
    racing = {a.key: val[a.key] for a in arms if a.stage == 1 and a.key not in eliminated
              and val.get(a.key)}
    if not racing:
        return None
    look = race.look(blocked_design.fit(racing), race.per_look(CONFIDENCE, looks))
    cost = {a.key: race.cheapest_first(a.lam, a.hidden) for a in arms if a.key in racing}
    choice = race.choose(look, cost) if (last or look.decided) else None
    return RaceNumbers(look=look, looks=looks, choice=choice)


def stage2_grids(arms: Sequence[StageArm], winner: str) -> tuple[grid_effects.Grid, ...]:
    """Each factor's arms at the winner, in value order, the winner among them."""
    top = next(a for a in arms if a.key == winner)
    grids = []
    for factor, value in (("λ", lambda a: a.lam), ("dropout", lambda a: a.dropout),
                          ("hidden", lambda a: float(a.hidden))):
        members = sorted([top, *(a for a in arms if a.stage == 2 and a.factor == factor)],
                         key=value)
        grids.append(grid_effects.Grid(factor, tuple(a.key for a in members),
                                       tuple(value(a) for a in members)))
    return tuple(grids)


def decide(arms: Sequence[StageArm], val: Runs, test: Runs, *, winner: str | None,
           looks: int, race_over: bool, eliminated: Sequence[str] = ()) -> TwoStage:
    """The numbers so far: the race (stage 1, validation) and, once stage 2 has runs, the
    winner's accuracy, the curve and the effects (stage 2, test)."""
    raced = race_numbers(arms, val, looks=looks, last=race_over, eliminated=eliminated)
    stage2 = {a.key for a in arms if a.stage == 2}
    if winner is None or winner not in stage2 or not test.get(winner):
        return TwoStage(raced, None, (), None, "")
    grids = stage2_grids(arms, winner)
    measured = {k: v for k, v in test.items() if k in stage2 and v}
    usable = [grid_effects.Grid(g.factor, *zip(*[(a, v) for a, v in zip(g.arms, g.values)
                                                   if a in measured]))
              for g in grids if sum(a in measured for a in g.arms) >= 2]
    effects, note = None, ""
    if usable and len(measured) >= 2:
        design = blocked_design.fit(measured)
        effects = grid_effects.measure(design, usable, CONFIDENCE)
        if design.spread.unequal:
            note = (f"the arms' runs scatter unequally (Bartlett p = {design.spread.p_value:.3f}):"
                    f" each comparison uses its own paired seeds")
    own = statistics.mean_ci(list(test[winner].values()), CONFIDENCE)
    source = next((a for a in arms if a.stage == 1 and _same(a, next(
        b for b in arms if b.key == winner))), None)
    stage1 = None if source is None or not val.get(source.key) else \
        float(sum(val[source.key].values()) / len(val[source.key]))
    return TwoStage(raced, WinnerAccuracy(winner, own, stage1), grids, effects, note)


def _same(a: StageArm, b: StageArm) -> bool:
    return (math.isclose(a.lam, b.lam, abs_tol=1e-9) and math.isclose(a.dropout, b.dropout,
                                                                     abs_tol=1e-9)
            and a.hidden == b.hidden)
