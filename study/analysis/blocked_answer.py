"""The answer's curve, effects, ranking and race from one blocked fit per metric (seeds as blocks,
max-|t| families: `blocked_design`, `grid_effects`, `race`), in the shapes the words and figures
read (`simultaneous.CurveBand`, `Effect`, `Ranking`, `decision_rules.RaceRound`).

- The curve: each λ point's mean test accuracy, and its band = the point's difference from λ = 0
  (seed luck removed, simultaneous with everything else), drawn from λ = 0's mean; λ = 0 itself
  has no band (it is the reference).
- The effects: "the λ gain" (best λ > 0 − λ = 0) is λ's headline; dropout and hidden size: the
  spread of their grid at the configuration (best point − worst point over the low end, the
  configuration's own value and the high end). The ranking orders the three spreads (λ's too:
  one measure) from the same family.
- The race: every pair of racing arms in one max-|t| family on validation accuracy; a candidate
  whose interval against the leader lies below 0 leaves; at the last look, leaders it cannot tell
  apart are a tie resolved by `race.choose`'s stated rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from study.analysis import blocked_design, decision_rules, grid_effects, race, simultaneous
from study.design import Arm, Plan

Table = Mapping[str, Mapping[int, float]]


@dataclass(frozen=True)
class EffectNumbers:
    curve: simultaneous.CurveBand | None
    effects: tuple[simultaneous.Effect, ...]
    ranking: simultaneous.Ranking | None
    widths: dict[str, tuple[float, tuple[str, ...]]]  # effect → (half-width, its grid's arms)
    spread_note: str


def grids(plan: Plan, curve: Sequence[Arm]) -> list[grid_effects.Grid]:
    """λ: the curve's arms; dropout and hidden: the configuration and its one-factor arms."""
    best = plan.arm("best")
    found = [grid_effects.Grid("λ", tuple(a.key for a in curve), tuple(a.lam for a in curve))]
    for factor, value in (("dropout", lambda a: a.dropout), ("hidden", lambda a: float(a.hidden))):
        arms = sorted([best, *(a for a in plan.arms if a.factor == factor)], key=value)
        found.append(grid_effects.Grid(factor, tuple(a.key for a in arms),
                                       tuple(value(a) for a in arms)))
    return found


def _present(grid: grid_effects.Grid, table: Table) -> grid_effects.Grid | None:
    kept = [(a, v) for a, v in zip(grid.arms, grid.values) if table.get(a)]
    if len(kept) < 2:
        return None
    return grid_effects.Grid(grid.factor, tuple(a for a, _ in kept), tuple(v for _, v in kept))


def effect_numbers(plan: Plan, curve: Sequence[Arm], table: Table,
                   confidence: float) -> EffectNumbers:
    """The curve, the three effects and their ranking from `table` (arm → seed → accuracy)."""
    usable = [g for g in (_present(g, table) for g in grids(plan, curve)) if g is not None]
    measured = {a: table[a] for a in table if table[a]}
    if not usable or len(measured) < 2:
        return EffectNumbers(None, (), None, {}, "")
    design = blocked_design.fit(measured)
    answer = grid_effects.measure(design, usable, confidence)
    method = answer.family.method
    family = len(answer.family.intervals)
    effects, widths = [], {}
    if answer.gain is not None:
        g = answer.gain
        effects.append(simultaneous.Effect(
            name="λ", chosen=g.best, n=design.n(g.best), estimate=g.estimate, low=g.low,
            high=g.high, confidence=confidence, family=family, candidates=(), method=method))
    for e in answer.effects:
        grid = next(g for g in usable if g.factor == e.factor)
        widths[e.factor] = (_half(e.low, e.high), grid.arms)
        if e.factor != "λ":
            effects.append(simultaneous.Effect(
                name=e.factor, chosen=e.worst, n=design.n(e.worst), estimate=e.estimate,
                low=e.low, high=e.high, confidence=confidence, family=family, candidates=(),
                method=method))
    if answer.gain is not None:
        widths["λ"] = (_half(answer.gain.low, answer.gain.high), widths.get("λ", (0, ()))[1])
    note = "" if not design.spread.unequal else (
        f"the arms' runs scatter unequally (Bartlett p = {design.spread.p_value:.3f}): each "
        f"comparison uses its own paired seeds, Bonferroni over the family")
    return EffectNumbers(_band(answer, table, confidence, method, family), tuple(effects),
                         _ranking(answer, confidence, method, family), widths, note)


def _half(low: float, high: float) -> float:
    return math.inf if math.isnan(low) or math.isnan(high) else (high - low) / 2.0


def _band(answer: grid_effects.GridAnswer, table: Table, confidence: float, method: str,
          family: int) -> simultaneous.CurveBand | None:
    if not answer.curve:
        return None
    zero = next(p for p in answer.curve if p.gain is None)
    base = float(np.mean(list(table[zero.arm].values())))
    points = []
    for p in answer.curve:
        mean = float(np.mean(list(table[p.arm].values())))
        low = high = math.nan
        if p.gain is not None and not math.isnan(p.gain.low):
            low, high = base + p.gain.low, base + p.gain.high
        points.append(simultaneous.BandPoint(arm=p.arm, n=p.n, mean=mean, low=low, high=high))
    return simultaneous.CurveBand(points=tuple(points), confidence=confidence, family=family,
                                  method=f"difference from λ = 0, {method}")


def _ranking(answer: grid_effects.GridAnswer, confidence: float, method: str,
             family: int) -> simultaneous.Ranking | None:
    if len(answer.effects) < 2:
        return None
    by = {e.factor: e for e in answer.effects}

    def text(factor: str) -> str:
        e = by[factor]
        return (f"{factor} {simultaneous.points(e.estimate)} ({simultaneous.points(e.low)} … "
                f"{simultaneous.points(e.high)})")
    line = text(answer.order[0])
    gaps = []
    for gap, factor in zip(answer.gaps, answer.order[1:]):
        line += (" > " if gap.told_apart else " ≈ ") + text(factor)
        gaps.append(simultaneous.RankGap(
            higher=gap.higher, lower=gap.lower,
            estimate=by[gap.higher].estimate - by[gap.lower].estimate, low=gap.low,
            high=gap.high, n=0, told_apart=gap.told_apart))
    apart = [g for g in gaps if not g.told_apart]
    if not apart:
        sentence = (f"Every neighbouring rank is told apart (the spreads' {confidence * 100:g} % "
                    f"intervals, simultaneous, do not overlap).")
    else:
        sentence = (f"Cannot be told apart at {confidence * 100:g} % (the spreads' simultaneous "
                    f"intervals overlap): " + "; ".join(
                        f"{g.higher} and {g.lower} (gap {simultaneous.points(g.estimate)} points, "
                        f"{simultaneous.points(g.low)} … {simultaneous.points(g.high)})"
                        for g in apart) + ".")
    return simultaneous.Ranking(order=answer.order, gaps=tuple(gaps), line=line,
                                sentence=sentence, confidence=confidence, family=family,
                                method=f"spreads of the grids, {method}")


@dataclass(frozen=True)
class RaceNumbers:
    round: decision_rules.RaceRound
    choice: race.Choice | None  # at the last look: the configuration to use, by the stated rule


def race_numbers(plan: Plan, val: Table, *, looks: int, eliminated: Sequence[str],
                 last: bool, confidence: float) -> RaceNumbers | None:
    racing = {k: v for k, v in val.items() if k not in eliminated and v}
    if not racing:
        return None
    level = race.per_look(confidence, looks)
    look = race.look(blocked_design.fit(racing), level)
    comparisons = []
    for arm in racing:
        if arm == look.leader:
            continue
        iv = look.family.get(arm, look.leader)
        out = arm in look.eliminated
        comparisons.append(decision_rules.RaceComparison(
            arm=arm, n=iv.n, difference=iv.estimate, low=iv.low, high=iv.high, eliminated=out,
            reason="shown worse than the leader" if out else "not shown worse"))
    means = tuple((a, len(racing[a]), float(np.mean(list(racing[a].values())))) for a in racing)
    summary = decision_rules.RaceRound(
        leader=look.leader, means=means, comparisons=tuple(comparisons),
        eliminated=look.eliminated, survivors=look.survivors, confidence=level,
        method=f"every pair in one family, {look.family.method}; α spread over {looks} looks")
    choice = None
    if last or look.decided:
        cost = {a.key: race.cheapest_first(a.lam, a.hidden) for a in plan.arms if a.key in racing}
        choice = race.choose(look, cost)
    return RaceNumbers(summary, choice)
