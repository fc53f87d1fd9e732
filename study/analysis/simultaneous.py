"""Intervals that stay honest when the answer picks among several comparisons: the λ curve's
simultaneous band, "the λ effect" (the curve's best point against λ = 0), a factor's effect (the
loss at the worse end of its range) and the ranking of these effects on one scale.

Pure functions over numbers (numpy + scipy). Data shape: arm key → {seed → accuracy, a fraction};
two arms are compared on the seeds both have (seed k trains every arm from the same initial
weights and batch order), so unequal seeds per arm are fine. Results are in fractions; `format`
and the ranking's words speak in accuracy points.

Methods, and why
- Bonferroni-t, everywhere: each of m intervals is a t-interval over its own seeds at level
  1 − α/m, so all m cover their truths together with probability ≥ 1 − α whatever the
  correlation between them and whatever seeds each arm has. Max-t would be narrower only with the
  correlation of the m statistics known; estimated from K = 3…10 seeds it is not (the K × m
  residuals have rank ≤ K − 1, below m for a 7-point grid), and a bootstrap of the maximum over
  K = 3 seeds has 10 distinct resamples: both under-cover exactly where we have few seeds. The
  price (t quantile, 7 intervals vs 1): 11.8 vs 4.3 at K = 3, 5.1 vs 2.8 at K = 5, 3.5 vs 2.3 at
  K = 10 — few seeds decide little, and the band says so.
- An effect is a maximum, θ = max_j δ_j over its candidates: for λ, δ_j = grid point j − λ = 0;
  for dropout or hidden size, δ_j = best configuration − end j of the searched range (the loss of
  moving the factor to its worse end). When all m candidate intervals [L_j, U_j] cover, θ lies in
  [max_j L_j, max_j U_j]: the interval accounts for picking the best point (or the worse end)
  without a separate correction. The chosen candidate is the one with the largest mean paired
  difference (on each arm's common seeds with the reference, so an arm's lucky extra seeds do not
  choose it). All three effects read "accuracy points lost by the worse setting", larger = the
  factor matters more; λ's counts from λ = 0, as the issue asks.
- Ranking two effects A > B: the claim θ_A − θ_B > 0, with per-seed paired differences of the
  effects' candidates, a_j − b_e for every pair (j, e), Bonferroni-t over all pairs of all
  neighbouring comparisons; then θ_A − θ_B ∈ [min_e max_j L_je, max_j min_e U_je]. Pairing, not
  the non-overlap of the two effects' intervals: the effects share arms and seeds, so their
  errors are correlated and non-overlap has no known error rate (typically far below α, so ranks
  would be called "indistinguishable" far too often); the pairs (j, e) account for the picking
  inside each effect, which holding the chosen point fixed would not (the best of 6 grid points is
  biased upward more than the worse of 2 ends, so λ would rank first by chance). The price is
  width: 16 pairs for λ (6 points) > hidden (2 ends) > dropout (2 ends), a t quantile of 6.0 at
  K = 5; simulated with a +4-point λ peak and 3 points of run noise, λ is told apart from the
  next effect in 7.5 % of repeats at K = 10 and 54 % at K = 20. Ranking is harder than calling
  an effect, and the words say so.
- Seeds whose differences all agree (no spread) give no t-interval: none is reported (nan), as
  `study.statistics.significance` refuses a verdict then. A bound that would need a missing
  interval is nan too (unknown), never silently dropped.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from study.analysis import statistics

Arms = Mapping[str, Mapping[int, float]]
_ZERO = 1e-12  # as in study.statistics: spreads below this are float rounding


def check_arms(arms: Arms) -> None:
    """Raise ValueError unless every accuracy is a finite fraction in [0, 1]."""
    for arm, runs in arms.items():
        for seed, value in runs.items():
            if not (isinstance(value, (int, float, np.number)) and 0.0 <= value <= 1.0):
                raise ValueError(f"accuracies are fractions in [0, 1]; arm {arm!r} seed {seed} "
                                 f"has {value!r} (percentages: divide by 100; leave failed runs "
                                 f"out)")


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


def _bonferroni(confidence: float, family: int) -> float:
    return 1.0 - (1.0 - confidence) / max(family, 1)


def _has_interval(values: np.ndarray) -> bool:
    return bool(values.size >= 2 and np.ptp(values) > _ZERO)


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
    family: int  # points with an interval (the Bonferroni divisor)
    method: str = "Bonferroni-t"

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def curve_band(curve: Arms, confidence: float = 0.95) -> CurveBand:
    """Per arm (grid point, in the given order) its mean accuracy and a Bonferroni-t band: each
    point's t-interval at 1 − α/m over its own seeds, m = points with an interval, so the band
    covers the truth at every point with probability ≥ `confidence`."""
    check_arms(curve)
    values = {arm: np.array(list(runs.values()), dtype=float) for arm, runs in curve.items()}
    family = sum(_has_interval(v) for v in values.values())
    level = _bonferroni(confidence, family)
    band = []
    for arm, v in values.items():
        mean, low, high = t_interval(v, level)
        band.append(BandPoint(arm=arm, n=int(v.size), mean=mean, low=low, high=high))
    return CurveBand(points=tuple(band), confidence=confidence, family=family)


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
    family: int  # candidates with an interval (the Bonferroni divisor)
    candidates: tuple[Candidate, ...]
    method: str = "Bonferroni-t"

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0.0 or self.high < 0.0

    def format(self) -> str:
        """"λ +4.1 (+1.2 … +7.0)": estimate and interval in accuracy points."""
        return f"{self.name} {points(self.estimate)} ({points(self.low)} … {points(self.high)})"

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _max_effect(name: str, series: Mapping[str, np.ndarray], seeds: Mapping[str, list[int]],
                confidence: float) -> Effect:
    if not any(v.size for v in series.values()):
        raise ValueError(f"the {name} effect needs at least one seed that a candidate shares with "
                         f"its reference; candidates: {sorted(series)}")
    family = sum(_has_interval(v) for v in series.values())
    level = _bonferroni(confidence, family)
    candidates = []
    for arm, v in series.items():
        mean, low, high = t_interval(v, level)
        candidates.append(Candidate(arm=arm, n=int(v.size), estimate=mean, low=low, high=high,
                                    differences=tuple(zip(seeds[arm], map(float, v)))))
    chosen = max((c for c in candidates if c.n), key=lambda c: c.estimate)
    # θ ≥ L_j for each covered j; θ ≤ max U_j needs every U_j (a missing one is +∞).
    low = max((c.low for c in candidates if not math.isnan(c.low)), default=math.nan)
    highs = [c.high for c in candidates]
    high = math.nan if any(math.isnan(h) for h in highs) else max(highs)
    return Effect(name=name, chosen=chosen.arm, n=chosen.n, estimate=chosen.estimate, low=low,
                  high=high, confidence=confidence, family=family, candidates=tuple(candidates))


def best_versus_control(curve: Arms, control: str, *, name: str = "λ",
                        confidence: float = 0.95) -> Effect:
    """"The λ effect": the curve's best point against `control` (λ = 0), paired by seed, with an
    interval for θ = max_j (point j − control) that is simultaneous over the grid (Bonferroni-t
    over the m grid-versus-control differences)."""
    check_arms(curve)
    if control not in curve:
        raise ValueError(f"the control arm {control!r} is not among the curve's arms "
                         f"{sorted(curve)}")
    series, seeds = {}, {}
    for arm, runs in curve.items():
        if arm != control:
            seeds[arm], series[arm] = paired_values(runs, curve[control])
    if not series:
        raise ValueError("the curve needs at least one point besides the control")
    return _max_effect(name, series, seeds, confidence)


def factor_effect(name: str, best: Mapping[int, float], ends: Arms, *,
                  confidence: float = 0.95) -> Effect:
    """A factor's effect: accuracy lost by moving it from the best configuration's value to the
    worse end of its searched range, θ = max_end (best − end), paired by seed, Bonferroni-t over
    the ends (usually 2) so the interval accounts for picking the worse end."""
    check_arms({"best": best, **ends})
    if not ends:
        raise ValueError(f"the {name} effect needs at least one end of the searched range")
    series, seeds = {}, {}
    for arm, runs in ends.items():
        seeds[arm], series[arm] = paired_values(best, runs)
    return _max_effect(name, series, seeds, confidence)


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
    family: int  # candidate pairs with an interval (the Bonferroni divisor)
    method: str = "Bonferroni-t over paired candidate differences"

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _pair_series(a: Effect, b: Effect) -> dict[tuple[str, str], np.ndarray]:
    return {(ca.arm, cb.arm): paired_values(ca.series(), cb.series())[1]
            for ca in a.candidates for cb in b.candidates}


def _gap(a: Effect, b: Effect, pairs: Mapping[tuple[str, str], np.ndarray],
         level: float) -> RankGap:
    bounds = {key: t_interval(v, level)[1:] for key, v in pairs.items()}
    lows = {k: (-math.inf if math.isnan(lo) else lo) for k, (lo, _) in bounds.items()}
    highs = {k: (math.inf if math.isnan(hi) else hi) for k, (_, hi) in bounds.items()}
    js = [c.arm for c in a.candidates]
    es = [c.arm for c in b.candidates]
    # max_j a_j − max_e b_e lies in [min_e max_j L_je, max_j min_e U_je] when all (j, e) cover.
    low = min(max(lows[j, e] for j in js) for e in es)
    high = max(min(highs[j, e] for e in es) for j in js)
    n = min(v.size for v in pairs.values())
    return RankGap(higher=a.name, lower=b.name, estimate=a.estimate - b.estimate,
                   low=low if math.isfinite(low) else math.nan,
                   high=high if math.isfinite(high) else math.nan, n=int(n),
                   told_apart=bool(low > 0.0))


def _pct(confidence: float) -> str:
    return f"{confidence * 100:g} %"


def rank_effects(effects: Sequence[Effect], confidence: float = 0.95) -> Ranking:
    """Order effects by estimate (largest first) and say, between neighbours, whether the larger
    is larger (the gap's simultaneous interval above 0: ">") or they cannot be told apart ("≈")."""
    if not effects:
        raise ValueError("rank_effects needs at least one effect")
    order = sorted(effects, key=lambda e: -e.estimate if not math.isnan(e.estimate) else math.inf)
    neighbours = list(itertools.pairwise(order))
    pairs = [_pair_series(a, b) for a, b in neighbours]
    family = sum(_has_interval(v) for p in pairs for v in p.values())
    level = _bonferroni(confidence, family)
    gaps = [_gap(a, b, p, level) for (a, b), p in zip(neighbours, pairs)]
    line = order[0].format()
    for gap, effect in zip(gaps, order[1:]):
        line += (" > " if gap.told_apart else " ≈ ") + effect.format()
    if not gaps:
        sentence = "One effect: nothing to rank."
    elif all(g.told_apart for g in gaps):
        sentence = (f"Every neighbouring rank is told apart ({_pct(confidence)} simultaneous "
                    f"intervals of the gaps exclude 0).")
    else:
        parts = [f"{g.higher} and {g.lower} (gap {points(g.estimate)} points, "
                 f"{points(g.low)} … {points(g.high)}, {g.n} paired seeds)"
                 for g in gaps if not g.told_apart]
        sentence = (f"Cannot be told apart at {_pct(confidence)} (simultaneous over the gaps): "
                    + "; ".join(parts) + ".")
    return Ranking(order=tuple(e.name for e in order), gaps=tuple(gaps), line=line,
                   sentence=sentence, confidence=confidence, family=family)
