"""The decisions the replicate phase takes from numbers: which candidates a race round keeps, the
winner, a cheaper configuration that is shown to be nearly as good, which comparisons get another
round of seeds (and how many seeds a target needs), and the winner's curse of the search.

Pure functions over numbers (numpy + scipy). Data shape: arm key → {seed → accuracy, a fraction};
two arms are compared on the seeds both have. The effects and their simultaneous intervals live
in `study.analysis.simultaneous`.

Rules, and why
- A race round compares every candidate with the leader (the highest mean) by a one-sided paired
  t-test, Holm-corrected over these comparisons. One-sided because only "worse than the leader"
  eliminates: a two-sided test would spend half of α on a direction that decides nothing. The
  leader is picked from the same data, so no textbook guarantee covers Holm here; simulated
  (4,000 rounds per setting, K = 3, 5, 10 seeds, 2…10 arms tied at the top and up to 20 clearly
  worse arms) the truly best arm is eliminated in 0.9–5.4 % of rounds at α = 0.05 (5 % within
  simulation error), where a fixed-level Bonferroni (provably ≤ α) gives 0.3–5.5 % and keeps
  more clearly-bad arms alive.
  A candidate with fewer than 2 seeds in common with the leader, or whose differences all agree
  (no spread), is never eliminated. Every round spends α again: for R planned rounds use
  `race_confidence(0.95, R)` (a union bound over rounds). Simulated (8 arms 0…8 points below
  the best, 3 points of run noise, 3 → 10 seeds, 500 races): the best was eliminated in 0.6 % of
  races and the winner was within 1 point of the best in 98.8 %.
- The winner is the highest replicated mean, i.e. the last round's leader (each arm's mean over
  its own seeds; survivors share every round's seeds, so only late-joining arms differ). That
  mean is itself the maximum of several, so it flatters the winner a little, as the search's
  single run does (`winners_curse`) by more.
- A cheaper alternative must be shown non-inferior, not merely "not significantly worse": with
  few seeds every arm is "not significantly worse", which is absence of evidence. The rule: its
  paired difference to the winner has a lower bound above −margin (default 1 point), two-sided
  Bonferroni-t intervals over the smaller-hidden candidates tested. The winner's own luck (its
  mean is the maximum) only makes this harder to pass.
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
from scipy import stats

from study.analysis import statistics
from study.analysis.simultaneous import Arms, check_arms, paired_values, t_interval

_ZERO = 1e-12  # as in study.statistics: spreads below this are float rounding


def race_confidence(confidence: float, rounds: int) -> float:
    """Per-round confidence for `rounds` planned rounds (Bonferroni over rounds)."""
    return 1.0 - (1.0 - confidence) / max(rounds, 1)


@dataclass(frozen=True)
class RaceComparison:
    """A candidate against the round's leader, paired on their common seeds."""

    arm: str
    n: int  # common seeds with the leader
    difference: float  # mean of (candidate − leader); nan without a common seed
    low: float  # its two-sided paired t-interval at the round's confidence, per comparison
    high: float  # (not adjusted: the decision is the Holm-adjusted p); nan with n < 2
    p_value: float  # one-sided (candidate worse); nan when not tested
    p_holm: float  # Holm-adjusted over the tested comparisons; nan when not tested
    eliminated: bool
    reason: str  # "significantly worse", "not significantly worse", "fewer than 2 common seeds",
    # "no spread"


@dataclass(frozen=True)
class RaceRound:
    leader: str  # highest mean accuracy; the race's winner when this is the last round
    means: tuple[tuple[str, int, float], ...]  # (arm, seeds, mean accuracy), in input order
    comparisons: tuple[RaceComparison, ...]
    eliminated: tuple[str, ...]
    survivors: tuple[str, ...]  # the leader and every candidate not eliminated, in input order
    confidence: float
    method: str = "one-sided paired t against the leader, Holm over the comparisons"

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def race_round(arms: Arms, confidence: float = 0.95) -> RaceRound:
    """One round of the race: the leader (highest mean over its seeds; ties: more seeds, then
    input order), and the candidates significantly worse than it (one-sided paired t-tests on
    common seeds, Holm-adjusted p < 1 − confidence). Fewer than 2 common seeds: never eliminated."""
    check_arms(arms)
    means = {arm: float(np.mean(list(runs.values()))) for arm, runs in arms.items() if runs}
    if not means:
        raise ValueError("a race round needs at least one arm with a finished seed")
    order = list(arms)
    leader = max(means, key=lambda a: (means[a], len(arms[a]), -order.index(a)))
    tested: dict[str, tuple[np.ndarray, float, str]] = {}  # differences, p, why not tested
    for arm in arms:
        if arm == leader:
            continue
        _, d = paired_values(arms[arm], arms[leader])
        if d.size < 2:
            tested[arm] = (d, math.nan, "fewer than 2 common seeds")
        elif np.ptp(d) <= _ZERO:
            tested[arm] = (d, math.nan, "no spread")
        else:
            t = float(d.mean()) / (float(d.std(ddof=1)) / math.sqrt(d.size))
            tested[arm] = (d, float(stats.t.cdf(t, d.size - 1)), "")
    adjusted = statistics.holm({a: v[1] for a, v in tested.items()})
    alpha = 1.0 - confidence
    comparisons = []
    for arm, (d, p, reason) in tested.items():
        out = adjusted[arm] < alpha  # nan: not tested, never eliminated
        reason = reason or ("significantly worse" if out else "not significantly worse")
        diff, low, high = t_interval(d, confidence)
        comparisons.append(RaceComparison(arm=arm, n=int(d.size), difference=diff, low=low,
                                          high=high, p_value=p, p_holm=adjusted[arm],
                                          eliminated=bool(out), reason=reason))
    eliminated = tuple(c.arm for c in comparisons if c.eliminated)
    return RaceRound(leader=leader,
                     means=tuple((a, len(arms[a]), means.get(a, math.nan)) for a in arms),
                     comparisons=tuple(comparisons), eliminated=eliminated,
                     survivors=tuple(a for a in arms if a not in eliminated),
                     confidence=confidence)


@dataclass(frozen=True)
class CheaperAlternative:
    """The cheapest configuration shown non-inferior to the winner, or none (arm None)."""

    arm: str | None
    hidden: int | None
    winner: str
    winner_hidden: int
    n: int  # paired seeds with the winner (0 when none)
    difference: float  # mean of (arm − winner), fraction
    low: float  # simultaneous over the candidates tested
    high: float
    mean: float  # the arm's own mean accuracy ± t-interval at `confidence`
    mean_low: float
    mean_high: float
    margin: float
    confidence: float
    tested: tuple[str, ...]  # smaller-hidden arms with ≥ 2 common seeds (the Bonferroni family)
    rule: str = "non-inferior: the paired interval's lower bound is above −margin"
    method: str = "Bonferroni-t over the candidates tested"

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def cheaper_alternative(arms: Arms, hidden: Mapping[str, int], winner: str, *,
                        margin: float = 0.01, confidence: float = 0.95) -> CheaperAlternative:
    """Among arms with a smaller hidden size than `winner`, the one with the smallest hidden size
    (ties: the larger difference) whose paired difference to the winner has a simultaneous lower
    bound above −margin; arm None when no arm passes."""
    check_arms(arms)
    missing = [a for a in arms if a not in hidden]
    if winner not in arms or missing:
        raise ValueError(f"the winner {winner!r} must be an arm and every arm needs its hidden "
                         f"size; missing: {missing}")
    series = {}
    for arm in arms:
        if hidden[arm] < hidden[winner]:
            d = paired_values(arms[arm], arms[winner])[1]
            if d.size >= 2:
                series[arm] = d
    level = 1.0 - (1.0 - confidence) / max(len(series), 1)
    passed = []
    for arm, d in series.items():
        diff, low, high = t_interval(d, level)
        if low > -margin:  # nan (no spread) never passes
            passed.append((hidden[arm], -diff, arm, d.size, diff, low, high))
    none = CheaperAlternative(arm=None, hidden=None, winner=winner, winner_hidden=hidden[winner],
                              n=0, difference=math.nan, low=math.nan, high=math.nan,
                              mean=math.nan, mean_low=math.nan, mean_high=math.nan, margin=margin,
                              confidence=confidence, tested=tuple(series))
    if not passed:
        return none
    size, _, arm, n, diff, low, high = min(passed)
    own = statistics.mean_ci(list(arms[arm].values()), confidence)
    return dataclasses.replace(none, arm=arm, hidden=size, n=int(n), difference=diff, low=low,
                               high=high, mean=own.mean, mean_low=own.low, mean_high=own.high)


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
