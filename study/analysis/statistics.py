"""The statistics of paired replicate runs: mean ± t-interval, paired differences with their
t-test, Holm's correction over several comparisons, a paired bootstrap over seeds AND test clips,
and the one-line verdict a report prints.

Pure functions over numbers (numpy + scipy); nothing here knows about studies or training.
Accuracies are fractions (0.47); verdicts speak in percentage points.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# scipy.stats is imported inside the functions that use it (see the package's docstring).

# Resamples per vectorized chunk: bounds memory (chunk × clips weights, 13 MB for 1,600 clips)
# whatever n_resamples is.
_BOOTSTRAP_CHUNK = 1_000
_ZERO = 1e-12  # differences of accuracies closer than this are equal (float rounding)


@dataclass(frozen=True)
class MeanCI:
    """Mean with a two-sided confidence interval from Student's t distribution."""

    n: int
    mean: float
    std: float  # sample standard deviation (ddof = 1); nan for n = 1
    low: float
    high: float
    confidence: float = 0.95

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2.0

    def format(self, scale: float = 100.0, unit: str = " %") -> str:
        if math.isnan(self.half_width):
            return f"{self.mean * scale:.2f}{unit} (n = {self.n}, no interval)"
        return (f"{self.mean * scale:.2f} ± {self.half_width * scale:.2f}{unit} "
                f"({_pct_label(self.confidence)} CI {self.low * scale:.2f} … "
                f"{self.high * scale:.2f}, n = {self.n})")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> MeanCI:
    """Mean ± t_{(1+c)/2, n-1} · s / √n. With one value the interval is undefined (nan)."""
    from scipy import stats  # see the package's docstring
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = float(x.mean())
    if x.size == 1:
        return MeanCI(n=1, mean=mean, std=math.nan, low=math.nan, high=math.nan,
                      confidence=confidence)
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf((1.0 + confidence) / 2.0, x.size - 1)) * std / math.sqrt(x.size)
    return MeanCI(n=int(x.size), mean=mean, std=std, low=mean - half, high=mean + half,
                  confidence=confidence)


@dataclass(frozen=True)
class PairedDifference:
    """Per-seed differences a − b (seed k of both arms paired), their mean and t-interval, and
    the two-sided paired t-test of mean 0."""

    differences: tuple[float, ...]  # a_k − b_k, in seed order
    n: int
    mean: float
    std: float  # ddof = 1; nan for n = 1
    low: float  # t-interval at `confidence`; nan for n = 1
    high: float
    t_statistic: float  # mean / (std / √n); ±inf when all differences are equal and non-zero
    p_value: float  # two-sided; nan for n = 1
    confidence: float = 0.95

    @property
    def ci(self) -> MeanCI:
        return MeanCI(n=self.n, mean=self.mean, std=self.std, low=self.low, high=self.high,
                      confidence=self.confidence)

    @property
    def excludes_zero(self) -> bool:
        """Whether the t-interval lies strictly on one side of 0 (False without an interval)."""
        return self.low > 0.0 or self.high < 0.0

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "differences": list(self.differences)}


def paired_difference(a: Sequence[float], b: Sequence[float],
                      confidence: float = 0.95) -> PairedDifference:
    """Paired comparison of two arms run over the same seeds (a[k] and b[k] share seed k).

    With fewer than two pairs the interval and p-value are nan. When every difference is the
    same, the t statistic is undefined (0/0 or x/0): p = 1 if they are all 0, else 0.
    """
    from scipy import stats  # see the package's docstring
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if x.ndim != 1 or x.shape != y.shape or x.size == 0:
        raise ValueError(f"paired arms must be non-empty and paired (the same number of seeds); "
                         f"got {x.size} and {y.size} values")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("paired arms must hold finite values; leave out the seeds whose run "
                         "failed, in both arms")
    diff = x - y
    ci = mean_ci(diff, confidence)
    t_stat = p_value = math.nan
    if diff.size >= 2:
        if np.ptp(diff) <= _ZERO:
            # no spread: scipy would return nan (or noise from rounding) with a warning
            same = abs(ci.mean) <= _ZERO
            t_stat = 0.0 if same else math.copysign(math.inf, ci.mean)
            p_value = 1.0 if same else 0.0
        else:
            t_stat = ci.mean / (ci.std / math.sqrt(diff.size))
            p_value = float(2.0 * stats.t.sf(abs(t_stat), diff.size - 1))
    return PairedDifference(differences=tuple(float(d) for d in diff), n=ci.n, mean=ci.mean,
                            std=ci.std, low=ci.low, high=ci.high, t_statistic=float(t_stat),
                            p_value=p_value, confidence=confidence)


def holm(p_values: Mapping[str, float]) -> dict[str, float]:
    """Holm's step-down adjusted p-values, same keys and order. nan stays nan and does not count
    towards the number of comparisons; adjusted values are monotone and capped at 1."""
    valid = sorted((p, name) for name, p in p_values.items() if not math.isnan(p))
    m = len(valid)
    adjusted: dict[str, float] = {}
    running = 0.0
    for i, (p, name) in enumerate(valid):
        running = max(running, min(1.0, (m - i) * p))
        adjusted[name] = running
    return {name: adjusted.get(name, math.nan) for name in p_values}


@dataclass(frozen=True)
class BootstrapInterval:
    """Percentile interval of the difference of mean accuracy (a − b), resampling seeds and
    test clips together."""

    estimate: float  # observed difference of mean accuracy over all seeds and clips
    low: float
    high: float
    confidence: float
    n_seeds: int  # 1: the interval covers test clips only
    n_clips: int
    n_resamples: int
    seed: int

    @property
    def contains_zero(self) -> bool:
        return self.low <= 0.0 <= self.high

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _correctness(values, name: str) -> np.ndarray:
    x = np.asarray(values)
    if x.ndim == 1:
        x = x[np.newaxis, :]  # one seed
    if x.ndim != 2 or x.size == 0:
        raise ValueError(f"{name} must be a non-empty (seeds, clips) array of 0/1 correctness, "
                         f"got shape {np.shape(values)}")
    if not np.isin(x, (0, 1)).all():
        raise ValueError(f"{name} must hold 0/1 correctness per clip (1 = classified right)")
    return x.astype(float)


def _counts(rng: np.random.Generator, rows: int, size: int) -> np.ndarray:
    """(rows, size) multiplicities of `size` draws with replacement from range(size), per row."""
    draws = rng.integers(0, size, size=(rows, size))
    flat = (draws + size * np.arange(rows)[:, np.newaxis]).ravel()
    return np.bincount(flat, minlength=rows * size).reshape(rows, size).astype(float)


def paired_bootstrap(correct_a, correct_b, *, n_resamples: int = 10_000,
                     confidence: float = 0.95, seed: int = 0) -> BootstrapInterval:
    """Interval of mean accuracy a − b over seeds AND test clips, as a paired bootstrap.

    `correct_a`, `correct_b`: (seeds, clips) arrays of 0/1 correctness; row k of both is seed k
    and column j of both is test clip j (a 1-D array is one seed). Each resample draws seeds
    (rows) and clips (columns) with replacement, independently, the same ones for both arms.
    With one seed only clips are resampled. Deterministic for a given `seed`.
    """
    a = _correctness(correct_a, "correct_a")
    b = _correctness(correct_b, "correct_b")
    if a.shape != b.shape:
        raise ValueError(f"both arms need the same seeds and test clips; got shapes {a.shape} "
                         f"and {b.shape}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    n_seeds, n_clips = a.shape
    diff = a - b
    rng = np.random.default_rng(seed)
    estimates = np.empty(n_resamples)
    for start in range(0, n_resamples, _BOOTSTRAP_CHUNK):
        k = min(_BOOTSTRAP_CHUNK, n_resamples - start)
        # The resampled mean is Σ_ij w_i v_j d_ij / (S·C) with w, v the draws' multiplicities.
        row_weights = _counts(rng, k, n_seeds)
        col_weights = _counts(rng, k, n_clips)
        per_seed = col_weights @ diff.T  # (k, seeds): each seed's summed difference
        estimates[start:start + k] = (row_weights * per_seed).sum(axis=1)
    estimates /= n_seeds * n_clips
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(estimates, [tail, 1.0 - tail])
    return BootstrapInterval(estimate=float(diff.mean()), low=float(low), high=float(high),
                             confidence=confidence, n_seeds=n_seeds, n_clips=n_clips,
                             n_resamples=n_resamples, seed=seed)


def significance(diff: PairedDifference, *, p_adjusted: float | None = None,
                 alpha: float = 0.05) -> str:
    """The decision rule behind `verdict`: "gain", "loss", "none", "too few seeds", or "no spread".

    Significant only when the p-value (the adjusted one if given) is below `alpha` AND the
    t-interval excludes 0. Every seed giving the same difference (a few seeds, accuracies on a
    grid of 1/clips) leaves the t-test nothing to estimate the noise from: no verdict then.
    """
    if diff.n < 2:
        return "too few seeds"
    if not diff.std > _ZERO and abs(diff.mean) > _ZERO:
        return "no spread"
    p = diff.p_value if p_adjusted is None else p_adjusted
    if not (p < alpha and diff.excludes_zero):
        return "none"
    return "gain" if diff.mean > 0 else "loss"


def _points(fraction: float) -> str:
    value = round(fraction * 100.0, 1)
    return "+0.0" if value == 0 else f"{value:+.1f}".replace("-", "−")


def _p_text(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def _pct_label(confidence: float) -> str:
    return f"{confidence * 100:g} %"


def verdict(comparison: str, diff: PairedDifference, *, p_adjusted: float | None = None,
            bootstrap: BootstrapInterval | None = None, alpha: float = 0.05,
            clips: str = "test clips") -> str:
    """One line in plain words, e.g. "λ = 8.5 vs λ = 0: +1.2 points, 95 % CI −0.8 … +3.2,
    5 paired seeds: no significant effect (paired t-test p = 0.210)".

    `comparison` names the arms ("λ = 8.5 vs λ = 0"); `p_adjusted` is the Holm-adjusted p-value
    when several comparisons are made; a `bootstrap` interval that includes 0 is named when the
    t-test alone would call the difference significant.
    """
    call = significance(diff, p_adjusted=p_adjusted, alpha=alpha)
    if call == "too few seeds":
        return f"{comparison}: 1 seed, no interval — run more seeds"
    p = diff.p_value if p_adjusted is None else p_adjusted
    p_line = (f"Holm-adjusted p {_p_text(p)}" if p_adjusted is not None
              else f"paired t-test p {_p_text(p)}")
    head = (f"{comparison}: {_points(diff.mean)} points, {_pct_label(diff.confidence)} CI "
            f"{_points(diff.low)} … {_points(diff.high)}, {diff.n} paired seeds")
    if call == "none":
        if p_adjusted is not None and diff.p_value < alpha <= p_adjusted:
            # Significant alone, not among the comparisons made together: say both.
            return (f"{head}: no significant effect once corrected for the other comparisons "
                    f"({p_line}; alone, p {_p_text(diff.p_value)})")
        return f"{head}: no significant effect ({p_line})"
    if call == "no spread":
        line = f"{head}: the same difference on every seed, which a t-test cannot judge"
        if bootstrap is not None:
            line += (f"; over {clips} and seeds {_points(bootstrap.low)} … "
                     f"{_points(bootstrap.high)}")
        return line + " — run more seeds"
    line = f"{head}: significant {call} ({p_line})"
    if bootstrap is not None and bootstrap.contains_zero:
        line += (f", but the interval over {clips} and seeds includes 0 "
                 f"({_points(bootstrap.low)} … {_points(bootstrap.high)})")
    return line
