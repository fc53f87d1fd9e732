"""The shapes in which the answer's intervals reach the words and figures: the λ curve's band
(`CurveBand`), an effect (`Effect`), the ranking of the effects (`Ranking`), and the helpers the
decision rules share (paired values, a t-interval, accuracy points as text).

The intervals themselves come from one blocked fit per metric and a max-|t| family
(`study.analysis.blocked_design`, `grid_effects`, `blocked_answer`); the Bonferroni-t per
comparison that stood here before is gone (issue 23: each comparison on its own n − 1 degrees of
freedom bought ±27.6 points where the same runs as one design give ±13).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from study.analysis import statistics

Arms = Mapping[str, Mapping[int, float]]
_ZERO = 1e-12  # as in study.statistics: spreads below this are float rounding



def paired_values(a: Mapping[int, float], b: Mapping[int, float]) -> tuple[list[int], np.ndarray]:
    """The seeds both hold, sorted, and the per-seed differences a − b on them."""
    seeds = sorted(set(a) & set(b))
    return seeds, np.array([a[s] - b[s] for s in seeds], dtype=float)


def t_interval(values: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """(mean, low, high): Student-t interval; nan bounds with < 2 values or no spread."""
    if values.size == 0:
        return math.nan, math.nan, math.nan
    if values.size < 2 or np.ptp(values) <= _ZERO:
        return float(values.mean()), math.nan, math.nan
    ci = statistics.mean_ci(values, confidence)
    return ci.mean, ci.low, ci.high


def points(fraction: float) -> str:
    """A fraction as signed accuracy points with one decimal and a true minus: −1.9, +0.0."""
    if math.isnan(fraction):
        return "?"
    value = round(fraction * 100.0, 1)
    return "+0.0" if value == 0 else f"{value:+.1f}".replace("-", "−")


@dataclass(frozen=True)
class BandPoint:
    arm: str
    n: int  # seeds
    mean: float
    low: float  # simultaneous bound; nan with < 2 seeds or no spread
    high: float


@dataclass(frozen=True)
class CurveBand:
    """Mean accuracy per grid point with a band that covers every point's truth at once."""

    points: tuple[BandPoint, ...]
    confidence: float  # simultaneous: all points covered together
    family: int  # contrasts in the simultaneous family
    method: str = ""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Candidate:
    """One paired comparison an effect picks from: per-seed differences and their
    simultaneous interval."""

    arm: str
    n: int
    estimate: float  # mean paired difference; nan without a common seed
    low: float
    high: float
    differences: tuple[tuple[int, float], ...]  # (seed, difference), by seed

    def series(self) -> dict[int, float]:
        return dict(self.differences)


@dataclass(frozen=True)
class Effect:
    """θ = the largest of its candidates' true differences, with an interval for θ that accounts
    for the pick. Fractions; positive = the factor's worse setting loses accuracy (for λ: the
    curve's best point beats λ = 0)."""

    name: str
    chosen: str  # the candidate with the largest estimate
    n: int  # the chosen candidate's paired seeds
    estimate: float
    low: float  # nan: unknown (a candidate without an interval leaves the upper bound open)
    high: float
    confidence: float
    family: int  # contrasts in the simultaneous family
    candidates: tuple[Candidate, ...]
    method: str = ""

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0.0 or self.high < 0.0

    def format(self) -> str:
        """"λ +4.1 (+1.2 … +7.0)": estimate and interval in accuracy points."""
        return f"{self.name} {points(self.estimate)} ({points(self.low)} … {points(self.high)})"

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RankGap:
    """θ_higher − θ_lower between neighbouring ranks, with its simultaneous interval."""

    higher: str
    lower: str
    estimate: float
    low: float  # nan: unknown
    high: float
    n: int  # fewest paired seeds among the candidate pairs used
    told_apart: bool  # low > 0


@dataclass(frozen=True)
class Ranking:
    order: tuple[str, ...]  # effect names, largest estimate first
    gaps: tuple[RankGap, ...]  # between neighbours, in order
    line: str  # "λ +4.1 (+1.2 … +7.0) > hidden +1.3 (−0.5 … +3.1) ≈ dropout +0.4 (−1.9 … +2.7)"
    sentence: str  # which ranks cannot be told apart, with figures
    confidence: float  # simultaneous over every gap
    family: int  # contrasts in the simultaneous family
    method: str = ""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)
