"""The three effects by one measure, at one configuration: each factor's grid around the winner
(λ, dropout, hidden size, one factor moved at a time), its effect = the spread of the grid's true
mean accuracies (best point − worst point), all three in one simultaneous family; "the λ gain"
(the best λ > 0 − λ = 0), the λ curve (each point − λ = 0) and the ranking of the effects read from
the same family.

Pure functions over a `blocked_design.BlockedFit` of stage 2's runs (fresh seeds). Fractions in,
fractions out.

Why this measure: the spread of a factor's grid asks the same question of every factor ("how much
accuracy can this factor's setting cost, over its searched range, at the configuration we
recommend?"), and a harmful λ (a large one that loses accuracy) counts against λ as it should.
The family is every pair of points within each grid (Tukey-type, one max-|t| over the three
grids together). When it covers, every statement below holds at once:
- the spread θ = max_ij |μ_i − μ_j| lies in [max_ij max(0, L_ij, −U_ij), max_ij max(|L_ij|, |U_ij|)];
- the λ gain max_j (μ_j − μ_0) over λ > 0 lies in [max_j L_j0, max_j U_j0];
- each curve point's μ_j − μ_0 lies in its own interval;
- θ_A − θ_B lies in [low_A − high_B, high_A − low_B], so the ranking "A > B" (low_A > high_B) is
  decided inside the same family, with no further correction.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from study.analysis.blocked_design import BlockedFit, Family, Interval, simultaneous


@dataclass(frozen=True)
class Grid:
    """One factor's points at the winner: arm keys in factor order and the factor's values."""

    factor: str  # "λ", "dropout", "hidden"
    arms: tuple[str, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class FactorEffect:
    """θ = best − worst true mean accuracy over the factor's grid, with its interval."""

    factor: str
    estimate: float  # observed best − worst (biased up by the pick; the interval is not)
    low: float  # ≥ 0: the factor matters when low > 0
    high: float
    best: str  # arms with the highest and lowest fitted mean
    worst: str
    points: int

    @property
    def shown(self) -> bool:
        return self.low > 0.0


@dataclass(frozen=True)
class LambdaGain:
    """max over λ > 0 of (μ_λ − μ_0), with its interval (negative: λ > 0 only loses)."""

    estimate: float
    low: float
    high: float
    best: str  # the λ > 0 arm with the highest fitted mean
    zero: str


@dataclass(frozen=True)
class CurvePoint:
    arm: str
    lam: float
    n: int  # seeds
    mean: float  # fitted mean accuracy (the arm at the average seed)
    gain: Interval | None  # μ_λ − μ_0 with its simultaneous interval; None at λ = 0


@dataclass(frozen=True)
class RankGap:
    higher: str
    lower: str
    low: float  # θ_higher − θ_lower lies in [low, high]
    high: float
    told_apart: bool  # low > 0


@dataclass(frozen=True)
class GridAnswer:
    family: Family
    effects: tuple[FactorEffect, ...]  # in grid order
    gain: LambdaGain | None
    curve: tuple[CurvePoint, ...]
    order: tuple[str, ...]  # factors, largest estimate first
    gaps: tuple[RankGap, ...]  # between neighbours in `order`

    def effect(self, factor: str) -> FactorEffect | None:
        return next((e for e in self.effects if e.factor == factor), None)


def _pairs(grids: Sequence[Grid]) -> list[tuple[str, str]]:
    pairs: dict[frozenset[str], tuple[str, str]] = {}
    for grid in grids:
        for i, a in enumerate(grid.arms):
            for b in grid.arms[i + 1:]:
                pairs.setdefault(frozenset((a, b)), (a, b))
    return list(pairs.values())


def _spread(design: BlockedFit, family: Family, grid: Grid) -> FactorEffect:
    intervals = [family.get(a, b) for i, a in enumerate(grid.arms) for b in grid.arms[i + 1:]]
    lows = [max(0.0, iv.low, -iv.high) for iv in intervals]
    highs = [max(abs(iv.low), abs(iv.high)) for iv in intervals]
    unknown = any(math.isnan(v) for v in lows + highs)
    best = max(grid.arms, key=design.mean)
    worst = min(grid.arms, key=design.mean)
    return FactorEffect(factor=grid.factor, estimate=design.mean(best) - design.mean(worst),
                        low=math.nan if unknown else max(lows),
                        high=math.nan if unknown else max(highs),
                        best=best, worst=worst, points=len(grid.arms))


def _gap(a: FactorEffect, b: FactorEffect) -> RankGap:
    low, high = a.low - b.high, a.high - b.low
    return RankGap(higher=a.factor, lower=b.factor, low=low, high=high,
                   told_apart=bool(low > 0.0))


def measure(design: BlockedFit, grids: Sequence[Grid], confidence: float = 0.95, *,
            paired: bool | None = None) -> GridAnswer:
    """The effects of `grids` (each with ≥ 2 arms of `design`), the λ gain and curve when a grid
    named "λ" holds the value 0, and their ranking, simultaneous at `confidence`."""
    grids = [g for g in grids if len(g.arms) >= 2]
    if not grids:
        raise ValueError("the effects need at least one grid with two or more points")
    family = simultaneous(design, _pairs(grids), confidence, paired=paired)
    effects = tuple(_spread(design, family, g) for g in grids)
    gain, curve = None, ()
    lam = next((g for g in grids if g.factor == "λ"), None)
    if lam is not None and 0.0 in lam.values:
        zero = lam.arms[lam.values.index(0.0)]
        others = [a for a, v in zip(lam.arms, lam.values) if v > 0]
        curve = tuple(CurvePoint(arm=a, lam=v, n=design.n(a), mean=design.mean(a),
                                 gain=None if a == zero else family.get(a, zero))
                      for a, v in zip(lam.arms, lam.values))
        if others:
            gains = [family.get(a, zero) for a in others]
            best = max(others, key=design.mean)
            gain = LambdaGain(estimate=design.mean(best) - design.mean(zero),
                              low=max(g.low for g in gains), high=max(g.high for g in gains),
                              best=best, zero=zero)
    order = sorted(effects, key=lambda e: -e.estimate)
    gaps = tuple(_gap(a, b) for a, b in itertools.pairwise(order))
    return GridAnswer(family=family, effects=effects, gain=gain, curve=curve,
                      order=tuple(e.factor for e in order), gaps=gaps)
