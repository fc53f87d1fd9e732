"""The decisions the replicate phase takes from numbers besides the race itself
(`study.analysis.race`): the shapes a race look is reported in, which comparisons get another
round of seeds (and how many seeds a target needs), and the winner's curse of the search.

Pure functions over numbers (numpy + scipy). Data shape: arm key → {seed → accuracy, a fraction};
two arms are compared on the seeds both have.

Rules, and why
- More seeds go where an interval is still wider than the target, up to a cap, and are never
  decided by significance (stopping on significance biases intervals). Stopping on the
  half-width leaves the mean unbiased (for normal noise the mean is independent of every sample
  SD along the way) but not the SD: a comparison stops when its SD happens to be low, so its
  final t-interval covers a little less than nominal. Simulated (2,000 runs per SD, from 3
  seeds, target half-width 2.5 points, per-seed SD 2…6 points, 95 % intervals): 90–92 % when a
  comparison may stop at 3 seeds, 92.5–94.5 % with at least 5 seeds before it stops
  (`min_seeds`, the default), 93.5–95 % with 8. Exact coverage needs Stein's two-stage rule (a
  first stage's SD fixes the seeds) at 2–5 times the seeds; reports should say
  "precision-stopped" next to these intervals.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# scipy.stats is imported inside the functions that use it (see the package's docstring).
from study.analysis.blocked_design import check_arms
from study.analysis.simultaneous import t_interval

_ZERO = 1e-12  # as in study.statistics: spreads below this are float rounding


@dataclass(frozen=True)
class RaceComparison:
    """A candidate against the round's leader, paired on their common seeds."""

    arm: str
    n: int  # common seeds with the leader
    difference: float  # mean of (candidate − leader); nan without a common seed
    low: float  # simultaneous over every pair of racing arms at the look's confidence
    high: float  # nan without residual degrees of freedom
    eliminated: bool  # high < 0: shown worse than the leader
    reason: str  # "shown worse than the leader", "not shown worse"


@dataclass(frozen=True)
class RaceRound:
    leader: str  # highest mean accuracy; the race's winner when this is the last round
    means: tuple[tuple[str, int, float], ...]  # (arm, seeds, mean accuracy), in input order
    comparisons: tuple[RaceComparison, ...]
    eliminated: tuple[str, ...]
    survivors: tuple[str, ...]  # the leader and every candidate not eliminated, in input order
    confidence: float
    method: str = ""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SeedPlan:
    comparisons: tuple[str, ...]  # still wider than the target: another round of seeds
    arms: tuple[str, ...]  # the arms those comparisons need, first mention first
    reached: tuple[str, ...]  # half-width at or below the target, with at least min_seeds
    capped: tuple[str, ...]  # wider than the target but already at max_seeds
    target_half_width: float
    max_seeds: int
    min_seeds: int

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def seeds_to_add(half_widths: Mapping[str, float], target_half_width: float,
                 seeds: Mapping[str, int], max_seeds: int,
                 arms_of: Mapping[str, Sequence[str]] | None = None, *,
                 min_seeds: int = 5) -> SeedPlan:
    """Which comparisons (and, through `arms_of`, which arms) get another round of seeds: those
    whose interval is still wider than the target (nan: no interval yet, so wider) or that have
    fewer than `min_seeds`, unless they already have `max_seeds`. Never decided by significance:
    stopping on significance biases intervals."""
    if not target_half_width > 0:
        raise ValueError(f"the target half-width must be positive, got {target_half_width}")
    more, reached, capped = [], [], []
    for name, width in half_widths.items():
        if width <= target_half_width and seeds.get(name, 0) >= min(min_seeds, max_seeds):
            reached.append(name)
        elif seeds.get(name, 0) >= max_seeds:
            capped.append(name)
        else:
            more.append(name)
    arms: dict[str, None] = {}  # ordered set
    for name in more:
        arms.update(dict.fromkeys((arms_of or {}).get(name, ())))
    return SeedPlan(comparisons=tuple(more), arms=tuple(arms), reached=tuple(reached),
                    capped=tuple(capped), target_half_width=target_half_width,
                    max_seeds=max_seeds, min_seeds=min_seeds)


def seeds_needed(sd: float, target_half_width: float, *, confidence: float = 0.95,
                 family: int = 1, max_seeds: int = 10_000) -> int | None:
    """The fewest seeds n ≥ 2 with t_{1 − α/(2·family), n − 1} · sd / √n ≤ target, taking the
    current SD (of the paired differences, or of one arm's accuracies) as the truth; None beyond
    `max_seeds` or without an SD. An ETA, not a promise: the SD itself is uncertain."""
    from scipy import stats  # see the package's docstring
    if not target_half_width > 0:
        raise ValueError(f"the target half-width must be positive, got {target_half_width}")
    if math.isnan(sd):
        return None
    n = np.arange(2, max(max_seeds, 2) + 1)
    q = 1.0 - (1.0 - confidence) / (2.0 * max(family, 1))
    ok = np.nonzero(stats.t.ppf(q, n - 1) * sd / np.sqrt(n) <= target_half_width)[0]
    return int(n[ok[0]]) if ok.size else None


@dataclass(frozen=True)
class WinnersCurse:
    """The search's single-run accuracy minus the replicated mean of the same configuration."""

    single: float
    n: int  # replicate seeds
    replicated: float
    replicated_low: float
    replicated_high: float
    curse: float  # single − replicated mean; positive: the search flattered the configuration
    low: float  # single − replicated_high
    high: float  # single − replicated_low
    confidence: float

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def winners_curse(single_run_value: float, replicated: Mapping[int, float] | Sequence[float],
                  confidence: float = 0.95) -> WinnersCurse:
    """Single search run − replicated mean, with the replicated mean's t-interval carried over
    (the single value is an observed number, so the uncertainty is the replicates')."""
    values = list(replicated.values()) if isinstance(replicated, Mapping) else list(replicated)
    check_arms({"single": {0: single_run_value}, "replicated": dict(enumerate(values))})
    if not values:
        raise ValueError("the winner's curse needs at least one replicate run")
    mean, low, high = t_interval(np.array(values, dtype=float), confidence)
    return WinnersCurse(single=float(single_run_value), n=len(values), replicated=mean,
                        replicated_low=low, replicated_high=high,
                        curse=single_run_value - mean, low=single_run_value - high,
                        high=single_run_value - low, confidence=confidence)
