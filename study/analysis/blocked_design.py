"""Arms × seeds as one design with seeds as blocks: one least-squares fit (statsmodels OLS,
accuracy ~ arm + seed), pairwise contrasts between arms, and intervals simultaneous over a family
of contrasts from their joint distribution (the max-|t| of a multivariate t).

Pure functions over numbers. Data shape: arm key → {seed → accuracy, a fraction}; seed k trains
every arm from the same initial weights and batch order, so seed k's luck is shared by its arms
and the fit removes it (the block). Arms may hold different seeds (rounds add seeds to some arms
only): OLS with seed dummies handles an unbalanced design; a seed held by one arm only adds
nothing to a contrast and costs no degree of freedom that a contrast needed.

Why one model: a paired t per comparison stands on its own n − 1 degrees of freedom (2 with 3
seeds: t = 4.30 alone, 7.65 Bonferroni over 3); the residual variance pooled over A arms has
(A − 1)(n − 1) (18 for 10 arms × 3 seeds: 2.10 alone, 2.56 max-|t| over 3).

Simultaneous intervals: the contrasts' estimates are jointly normal with covariance
σ²·L(XᵀX)⁻¹Lᵀ, and σ̂² is one χ² shared by all of them, so (t_1 … t_m) is multivariate t with the
residual degrees of freedom and the contrasts' correlation. The critical value c makes
P(max_j |t_j| ≤ c) = confidence: Dunnett's (every arm against one) and Tukey's (every pair) are the
special cases. Tukey's family has a singular correlation (rank A − 1 < m pairs), which
`scipy.stats.multivariate_t.cdf` (Genz's integration) gets wrong (0.817 instead of 0.95 at Tukey's
2.826 for 4 arms, 18 df), so c is the quantile of max |t| over draws of scipy's multivariate t on
the family's rank, with a fixed random_state (400,000 draws: c to about ±0.01, checked against
statsmodels' studentized range in the tests).

Unequal spread: the pooled fit assumes every arm scatters alike. An unstable configuration (one
arm's runs far noisier) would make the contrasts that involve it too narrow. Bartlett's test on
the fit's residuals by arm flags it, at a liberal 0.25 (missing it costs coverage, a false alarm
only width), and then every contrast falls back to its own paired differences (n − 1 degrees of
freedom, Bonferroni over the family), which assumes nothing about the other arms. Chosen by
simulation (6 arms × 5 seeds, 3 points of run noise, 600 repeats): Levene's test on these
residuals raised 17–26 % false alarms at a nominal 10 % (the residuals of a two-way fit are
correlated) and the mix covered 93 % with equal spread; Bartlett's: 7.5 % at 10 %, and coverage
95.2 % (equal spread), 94.0 % (one arm with 3× the noise), 93.0 % (2×) at 0.25. Figures from more
repeats: bench/answer_coverage.py, BENCHMARKS.md.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# scipy.stats is imported inside the functions that use it (see the package's docstring).

Arms = Mapping[str, Mapping[int, float]]
SPREAD_ALPHA = 0.25  # Bartlett's test on residuals by arm: below this, arms scatter unequally
DRAWS = 400_000  # multivariate-t draws per critical value
_ZERO = 1e-12  # spreads below this are float rounding


@dataclass(frozen=True)
class Spread:
    """Whether the arms scatter alike, as the pooled fit assumes."""

    p_value: float  # Bartlett's test on the residuals by arm; nan when it cannot be computed
    sd_by_arm: tuple[tuple[str, float], ...]  # residual SD per arm
    unequal: bool


@dataclass(frozen=True)
class BlockedFit:
    """The OLS fit accuracy ~ arm + seed (sum-coded seeds, so an arm's level is its mean at the
    average seed)."""

    arms: tuple[str, ...]
    seeds: tuple[tuple[str, tuple[int, ...]], ...]  # arm → its seeds
    level: tuple[float, ...]  # per arm, in `arms` order
    cov: np.ndarray  # covariance of the levels (A × A)
    df: float  # residual degrees of freedom
    sd: float  # pooled residual SD (one run, seed removed)
    spread: Spread
    data: tuple[tuple[str, tuple[tuple[int, float], ...]], ...]  # the runs, for paired fallbacks

    def runs(self, arm: str) -> dict[int, float]:
        return dict(dict(self.data)[arm])

    def n(self, arm: str) -> int:
        return len(dict(self.seeds)[arm])

    def mean(self, arm: str) -> float:
        return self.level[self.arms.index(arm)]


def check_arms(arms: Arms) -> None:
    """Raise ValueError unless every accuracy is a finite fraction in [0, 1]."""
    for arm, runs in arms.items():
        for seed, value in runs.items():
            if not (isinstance(value, (int, float, np.number)) and 0.0 <= value <= 1.0):
                raise ValueError(f"accuracies are fractions in [0, 1]; arm {arm!r} seed {seed} "
                                 f"has {value!r} (percentages: divide by 100; leave failed runs "
                                 f"out)")


def fit(arms: Arms, *, spread_alpha: float = SPREAD_ALPHA) -> BlockedFit:
    """Fit accuracy ~ arm + seed over every run of `arms` (arms without a run are left out).
    ValueError when an arm shares no seed with the others (its contrasts are not estimable)."""
    check_arms(arms)
    held = {arm: dict(runs) for arm, runs in arms.items() if runs}
    if not held:
        raise ValueError("the design needs at least one run")
    names = tuple(held)
    seeds = sorted({s for runs in held.values() for s in runs})
    rows = [(a, s, v) for a, runs in held.items() for s, v in sorted(runs.items())]
    y = np.array([v for _, _, v in rows])
    x = np.zeros((len(rows), len(names) + len(seeds) - 1))
    for i, (a, s, _) in enumerate(rows):
        x[i, names.index(a)] = 1.0
        j = seeds.index(s)
        if j < len(seeds) - 1:
            x[i, len(names) + j] = 1.0
        else:  # sum coding: the last seed is minus the others
            x[i, len(names):] = -1.0
    if np.linalg.matrix_rank(x) < x.shape[1]:
        raise ValueError(f"every arm must share a seed with the others (arms {list(names)}, "
                         f"seeds {seeds})")
    # Imported here: statsmodels brings pandas and formula machinery (seconds of start-up), and
    # every worker process imports this module while most never fit a design.
    from statsmodels.regression.linear_model import OLS

    result = OLS(y, x).fit()
    df = float(result.df_resid)
    sd = math.sqrt(result.scale) if df > 0 else math.nan
    cov = np.asarray(result.cov_params())[:len(names), :len(names)] if df > 0 \
        else np.full((len(names), len(names)), math.nan)
    residuals = {a: [] for a in names}
    for (a, _, _), r in zip(rows, np.asarray(result.resid)):
        residuals[a].append(float(r))
    return BlockedFit(arms=names, seeds=tuple((a, tuple(sorted(held[a]))) for a in names),
                      level=tuple(float(v) for v in result.params[:len(names)]), cov=cov,
                      df=df, sd=sd, spread=_spread(residuals, df, spread_alpha),
                      data=tuple((a, tuple(sorted(held[a].items()))) for a in names))


def _spread(residuals: Mapping[str, list[float]], df: float, alpha: float) -> Spread:
    from scipy import stats  # see the package's docstring
    sds = tuple((a, float(np.sqrt(np.mean(np.square(r))))) for a, r in residuals.items())
    groups = [np.array(r) for r in residuals.values() if len(r) >= 2]
    p = math.nan
    if df > 0 and len(groups) >= 2 and any(np.ptp(g) > _ZERO for g in groups):
        p = float(stats.bartlett(*groups).pvalue)
    return Spread(p_value=p, sd_by_arm=sds, unequal=bool(p < alpha))


@functools.lru_cache(maxsize=256)
def _max_t_quantile(corr_key: bytes, m: int, df: float, confidence: float) -> float:
    from scipy import stats  # see the package's docstring
    corr = np.frombuffer(corr_key).reshape(m, m)
    values, vectors = np.linalg.eigh(corr)
    keep = values > 1e-9 * values.max()
    basis = vectors[:, keep] * np.sqrt(values[keep])  # corr = basis · basisᵀ
    draws = stats.multivariate_t(loc=np.zeros(int(keep.sum())), shape=np.eye(int(keep.sum())),
                                 df=df).rvs(size=DRAWS, random_state=20231)
    draws = np.atleast_2d(draws).reshape(DRAWS, -1)
    # In blocks: all draws × 45 contrasts at once is 144 MB and took 0.83 s; blocks that stay in
    # cache take 0.07 s, with the same maxima.
    maxima = np.concatenate([np.abs(block @ basis.T).max(axis=1)
                             for block in np.array_split(draws, 16)])
    return float(np.quantile(maxima, confidence))


def max_t_quantile(corr: np.ndarray, df: float, confidence: float) -> float:
    """c with P(max_j |t_j| ≤ c) = confidence for (t_j) multivariate t with `df` degrees of
    freedom and correlation `corr` (singular allowed). One contrast: Student's t quantile."""
    from scipy import stats  # see the package's docstring
    m = corr.shape[0]
    if m == 1:
        return float(stats.t.ppf(0.5 + confidence / 2.0, df))
    key = np.round(np.asarray(corr, dtype=float), 6)
    return _max_t_quantile(key.tobytes(), m, round(float(df), 6), confidence)


@dataclass(frozen=True)
class Interval:
    """A contrast μ_a − μ_b with its simultaneous interval (fractions)."""

    a: str
    b: str
    estimate: float
    low: float  # nan: no interval (no residual degrees of freedom, or no spread)
    high: float
    n: int  # seeds both arms hold

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2.0

    def flipped(self) -> Interval:
        return Interval(self.b, self.a, -self.estimate, -self.high, -self.low, self.n)


@dataclass(frozen=True)
class Family:
    """Contrasts whose intervals cover their truths together with probability `confidence`."""

    intervals: tuple[Interval, ...]
    confidence: float
    critical: float  # max-|t| quantile (pooled), or the Bonferroni t of the largest df (paired)
    df: float
    method: str

    def get(self, a: str, b: str) -> Interval:
        """μ_a − μ_b, whichever way the family holds it."""
        for interval in self.intervals:
            if (interval.a, interval.b) == (a, b):
                return interval
            if (interval.a, interval.b) == (b, a):
                return interval.flipped()
        raise KeyError(f"{a} − {b} is not in the family")


def all_pairs(arms: Iterable[str]) -> list[tuple[str, str]]:
    """Tukey-type: every pair once."""
    return list(itertools.combinations(list(arms), 2))


def against(reference: str, arms: Iterable[str]) -> list[tuple[str, str]]:
    """Dunnett-type: every other arm minus the reference."""
    return [(a, reference) for a in arms if a != reference]


def simultaneous(design: BlockedFit, pairs: Sequence[tuple[str, str]],
                 confidence: float = 0.95, *, paired: bool | None = None) -> Family:
    """Intervals for μ_a − μ_b over `pairs`, simultaneous at `confidence`: from the pooled fit
    (max-|t|), or from each pair's own paired differences (Bonferroni-t) when the arms scatter
    unequally (`paired` None: as `design.spread` says; True/False forces one)."""
    pairs = list(dict.fromkeys(tuple(p) for p in pairs))
    if not pairs:
        raise ValueError("a family needs at least one contrast")
    unknown = {a for p in pairs for a in p} - set(design.arms)
    if unknown:
        raise ValueError(f"arms {sorted(unknown)} are not in the design {list(design.arms)}")
    use_paired = design.spread.unequal if paired is None else paired
    return (_paired_family if use_paired else _pooled_family)(design, pairs, confidence)


def _common(design: BlockedFit, a: str, b: str) -> int:
    return len(set(dict(design.seeds)[a]) & set(dict(design.seeds)[b]))


def _pooled_family(design: BlockedFit, pairs: list[tuple[str, str]],
                   confidence: float) -> Family:
    index = {a: i for i, a in enumerate(design.arms)}
    contrasts = np.zeros((len(pairs), len(design.arms)))
    for row, (a, b) in enumerate(pairs):
        contrasts[row, index[a]], contrasts[row, index[b]] = 1.0, -1.0
    estimates = contrasts @ np.array(design.level)
    cov = contrasts @ design.cov @ contrasts.T
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    method = (f"max-|t| over {len(pairs)} contrasts, seeds as blocks (OLS), "
              f"{design.df:g} residual df")
    if not design.df > 0 or not np.all(se > _ZERO):
        intervals = tuple(Interval(a, b, float(e), math.nan, math.nan, _common(design, a, b))
                          for (a, b), e in zip(pairs, estimates))
        return Family(intervals, confidence, math.nan, design.df, method)
    c = max_t_quantile(cov / np.outer(se, se), design.df, confidence)
    intervals = tuple(Interval(a, b, float(e), float(e - c * s), float(e + c * s),
                               _common(design, a, b))
                      for (a, b), e, s in zip(pairs, estimates, se))
    return Family(intervals, confidence, c, design.df, method)


def _paired_family(design: BlockedFit, pairs: list[tuple[str, str]],
                   confidence: float) -> Family:
    from scipy import stats  # see the package's docstring
    level = 1.0 - (1.0 - confidence) / (2.0 * len(pairs))
    intervals, widest = [], (math.nan, math.nan)
    for a, b in pairs:
        ra, rb = design.runs(a), design.runs(b)
        d = np.array([ra[s] - rb[s] for s in sorted(set(ra) & set(rb))])
        low = high = math.nan
        estimate = float(d.mean()) if d.size else math.nan
        if d.size >= 2 and np.ptp(d) > _ZERO:
            q = float(stats.t.ppf(level, d.size - 1))
            half = q * float(d.std(ddof=1)) / math.sqrt(d.size)
            low, high = estimate - half, estimate + half
            widest = (q, d.size - 1) if not q <= widest[0] else widest
        intervals.append(Interval(a, b, estimate, low, high, int(d.size)))
    method = (f"paired t per contrast, Bonferroni over {len(pairs)} (the arms scatter unequally: "
              f"Bartlett p = {design.spread.p_value:.3f})")
    return Family(tuple(intervals), confidence, widest[0], widest[1], method)
