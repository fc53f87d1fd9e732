"""The replicate statistics against numbers computed by hand, and the decision rule's calibration
on simulated paired data sets."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from study.analysis import statistics as st

# Student's t quantiles in closed form (not from scipy): for 2 degrees of freedom the CDF is
# 1/2 + t / (2 √(2 + t²)), so t_{0.975, 2} = √(2 · 0.95² / (1 − 0.95²)).
T_975_DF2 = math.sqrt(2 * 0.95**2 / (1 - 0.95**2))  # 4.30265272974946
T_975_DF4 = 2.7764451051977987  # printed tables


def _t_cdf_df4(t: float) -> float:
    # Closed form for 4 degrees of freedom: 1/2 + (3x/4)(1 − x²/3), x = t / √(4 + t²).
    x = t / math.sqrt(4 + t * t)
    return 0.5 + 0.75 * x * (1 - x * x / 3)


def test_t_interval_by_hand():
    ci = st.mean_ci([0.5, 0.6, 0.7])
    assert T_975_DF2 == pytest.approx(4.30265272974946, abs=1e-12)
    assert (ci.n, ci.mean, ci.std) == (3, pytest.approx(0.6), pytest.approx(0.1))
    half = T_975_DF2 * 0.1 / math.sqrt(3)
    assert half == pytest.approx(0.248414, abs=1e-6)
    assert ci.half_width == pytest.approx(half)
    assert (ci.low, ci.high) == (pytest.approx(0.6 - half), pytest.approx(0.6 + half))
    assert ci.format() == "60.00 ± 24.84 % (95 % CI 35.16 … 84.84, n = 3)"
    assert st.MeanCI(**ci.as_dict()) == ci


def test_mean_ci_of_one_value_has_no_interval():
    ci = st.mean_ci([0.7])
    assert ci.mean == 0.7 and math.isnan(ci.low) and math.isnan(ci.high)
    assert ci.format() == "70.00 % (n = 1, no interval)"
    with pytest.raises(ValueError, match="at least one value"):
        st.mean_ci([])


A = [0.80, 0.82, 0.78, 0.84, 0.81]
B = [0.76, 0.80, 0.77, 0.79, 0.80]


def test_paired_difference_by_hand():
    d = st.paired_difference(A, B)
    # differences 0.04, 0.02, 0.01, 0.05, 0.01: mean 0.026; deviations 14, −6, −16, 24, −16 (e-3),
    # squares sum to 1320e-6, so s = √(1320e-6 / 4) = √(3.3e-4)
    s = math.sqrt(3.3e-4)
    t = 0.026 / (s / math.sqrt(5))
    assert t == pytest.approx(3.200379, abs=1e-6)
    p = 2 * (1 - _t_cdf_df4(t))
    assert p == pytest.approx(0.032889, abs=1e-6)
    assert d.differences == pytest.approx((0.04, 0.02, 0.01, 0.05, 0.01))
    assert (d.n, d.mean, d.std) == (5, pytest.approx(0.026), pytest.approx(s))
    assert d.t_statistic == pytest.approx(t)
    assert d.p_value == pytest.approx(p, rel=1e-9)
    half = T_975_DF4 * s / math.sqrt(5)
    assert (d.low, d.high) == (pytest.approx(0.026 - half), pytest.approx(0.026 + half))
    assert d.excludes_zero and d.ci == st.mean_ci(d.differences)
    assert st.paired_difference(B, A).p_value == pytest.approx(p, rel=1e-9)  # two-sided
    assert d.as_dict()["differences"] == list(d.differences)


def test_paired_difference_edge_cases_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy's nan-with-a-warning would fail here
        one = st.paired_difference([0.8], [0.7])
        same = st.paired_difference([0.75, 0.5, 0.6], [0.5, 0.25, 0.35])  # all +0.25
        zero = st.paired_difference([0.5, 0.6], [0.5, 0.6])
    assert math.isnan(one.low) and math.isnan(one.p_value) and not one.excludes_zero
    assert same.p_value == 0.0 and same.t_statistic == math.inf
    assert same.low == same.high == pytest.approx(0.25)
    assert zero.p_value == 1.0 and zero.t_statistic == 0.0 and not zero.excludes_zero
    with pytest.raises(ValueError, match="same number of seeds"):
        st.paired_difference([0.8, 0.9], [0.7])
    with pytest.raises(ValueError, match="finite values"):
        st.paired_difference([0.8, math.nan], [0.7, 0.6])


def test_holm_textbook_example():
    adjusted = st.holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.005})
    # sorted 0.005 ×4 = 0.02, 0.01 ×3 = 0.03, 0.03 ×2 = 0.06, 0.04 ×1 = 0.04 → raised to 0.06
    assert list(adjusted) == ["a", "b", "c", "d"]
    assert adjusted == {"a": pytest.approx(0.03), "b": pytest.approx(0.06),
                        "c": pytest.approx(0.06), "d": pytest.approx(0.02)}


def test_holm_caps_at_one_and_skips_nan():
    assert st.holm({"a": 0.6, "b": 0.5}) == {"a": 1.0, "b": 1.0}
    nan = st.holm({"a": 0.01, "b": math.nan, "c": 0.02})
    assert math.isnan(nan["b"])  # and m = 2, not 3:
    assert (nan["a"], nan["c"]) == (pytest.approx(0.02), pytest.approx(0.02))
    assert st.holm({}) == {}


def _arms(rng: np.random.Generator, seeds: int = 5, clips: int = 1600):
    b = (rng.random((seeds, clips)) < 0.5).astype(int)
    return b.copy(), b


def test_bootstrap_is_deterministic_for_a_seed_and_zero_for_identical_arms():
    rng = np.random.default_rng(0)
    a = (rng.random((5, 1600)) < 0.5).astype(int)
    b = (rng.random((5, 1600)) < 0.5).astype(int)
    first = st.paired_bootstrap(a, b, seed=7)
    assert st.paired_bootstrap(a, b, seed=7) == first
    assert st.paired_bootstrap(a, b, seed=8) != first
    assert first.low < first.estimate < first.high
    same = st.paired_bootstrap(a, a)
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0)
    assert same.as_dict()["n_clips"] == 1600 and same.n_seeds == 5


def test_bootstrap_centres_on_known_flips_and_widens_with_seed_variance():
    a, b = _arms(np.random.default_rng(1))
    flipped = np.arange(0, 1600, 16)[:96]  # fixed clips
    b[:, flipped] = 0
    a[:, flipped] = 0
    steady = a.copy()
    steady[:, flipped[:48]] = 1  # every seed +48 clips: +3 points
    varying = a.copy()
    for k, n in enumerate((0, 24, 48, 72, 96)):  # the same +3 points on average
        varying[k, flipped[:n]] = 1
    calm = st.paired_bootstrap(steady, b)
    noisy = st.paired_bootstrap(varying, b)
    assert calm.estimate == noisy.estimate == pytest.approx(0.03)
    assert calm.low < 0.03 < calm.high and calm.low > 0.0
    # clips only: sd of a mean of 1,600 0/1 differences with 3 % ones is √(0.03·0.97/1600)
    assert calm.high - calm.low == pytest.approx(2 * 1.96 * math.sqrt(0.03 * 0.97 / 1600),
                                                 rel=0.15)
    assert noisy.low < 0.03 < noisy.high
    assert noisy.high - noisy.low > 1.5 * (calm.high - calm.low)


def test_bootstrap_with_one_seed_resamples_clips_only():
    rng = np.random.default_rng(2)
    a = (rng.random(800) < 0.55).astype(int)
    b = (rng.random(800) < 0.50).astype(int)
    one = st.paired_bootstrap(a, b)
    assert one == st.paired_bootstrap(a[np.newaxis], b[np.newaxis])  # 1-D is one seed
    assert one.n_seeds == 1 and one.n_clips == 800
    d = a - b
    normal = 2 * 1.96 * d.std(ddof=1) / math.sqrt(d.size)
    assert one.high - one.low == pytest.approx(normal, rel=0.1)
    assert one.estimate == pytest.approx(d.mean())


def test_bootstrap_rejects_unpaired_or_non_binary_input():
    with pytest.raises(ValueError, match="same seeds and test clips"):
        st.paired_bootstrap(np.ones((5, 10)), np.ones((4, 10)))
    with pytest.raises(ValueError, match="0/1 correctness"):
        st.paired_bootstrap(np.full((2, 3), 0.5), np.ones((2, 3)))
    with pytest.raises(ValueError, match="non-empty"):
        st.paired_bootstrap(np.ones((2, 3, 1)), np.ones((2, 3, 1)))


def _simulate(rng: np.random.Generator, effect: float, noise: float, seeds: int = 5):
    shared = rng.normal(0.5, noise, seeds)  # what a seed does to both arms alike
    b = shared + rng.normal(0, noise, seeds)
    return b + effect + rng.normal(0, noise, seeds), b


def test_no_effect_is_called_significant_at_about_the_nominal_rate():
    rng = np.random.default_rng(2024)
    calls = [st.significance(st.paired_difference(*_simulate(rng, 0.0, 0.02)))
             for _ in range(200)]
    # Binomial(200, 0.05): mean 10, P(X > 20) ≈ 0.002
    assert sum(c != "none" for c in calls) <= 20
    assert set(calls) <= {"none", "gain", "loss"}


def test_a_true_effect_is_covered_and_found():
    rng = np.random.default_rng(7)
    diffs = [st.paired_difference(*_simulate(rng, 0.03, 0.01)) for _ in range(200)]
    assert sum(d.low <= 0.03 <= d.high for d in diffs) >= 180
    assert sum(st.significance(d) == "gain" for d in diffs) >= 180


def test_verdict_wording():
    d = st.paired_difference(A, B)  # +2.6 points, CI +0.3 … +4.9, p = 0.033
    assert st.verdict("λ = 8.5 vs λ = 0", d) == (
        "λ = 8.5 vs λ = 0: +2.6 points, 95 % CI +0.3 … +4.9, 5 paired seeds: "
        "significant gain (paired t-test p = 0.033)")
    assert st.verdict("λ = 8.5 vs λ = 0", d, p_adjusted=0.099) == (
        "λ = 8.5 vs λ = 0: +2.6 points, 95 % CI +0.3 … +4.9, 5 paired seeds: "
        "no significant effect once corrected for the other comparisons "
        "(Holm-adjusted p = 0.099; alone, p = 0.033)")
    assert st.verdict("λ = 0 vs λ = 8.5", st.paired_difference(B, A), p_adjusted=0.004) == (
        "λ = 0 vs λ = 8.5: −2.6 points, 95 % CI −4.9 … −0.3, 5 paired seeds: "
        "significant loss (Holm-adjusted p = 0.004)")
    wide = st.BootstrapInterval(estimate=0.026, low=-0.005, high=0.05, confidence=0.95,
                                n_seeds=5, n_clips=1600, n_resamples=10_000, seed=0)
    assert st.verdict("x", d, bootstrap=wide).endswith(
        "significant gain (paired t-test p = 0.033), but the interval over test clips and "
        "seeds includes 0 (−0.5 … +5.0)")
    narrow = st.BootstrapInterval(0.026, 0.01, 0.04, 0.95, 5, 1600, 10_000, 0)
    assert "but" not in st.verdict("x", d, bootstrap=narrow)
    assert st.verdict("λ = 10 vs λ = 0", st.paired_difference([0.8], [0.7])) == (
        "λ = 10 vs λ = 0: 1 seed, no interval — run more seeds")


def test_verdict_needs_both_p_and_interval():
    # p = 0.033 < 0.05, but the 99 % interval (t_{0.995, 4} = 4.604: ±3.74 points) contains 0
    d99 = st.paired_difference(A, B, confidence=0.99)
    assert d99.low < 0 < d99.high
    assert st.significance(d99) == "none"
    assert st.verdict("x", d99) == ("x: +2.6 points, 99 % CI −1.1 … +6.3, 5 paired seeds: "
                                    "no significant effect (paired t-test p = 0.033)")
    zero = st.paired_difference([0.5, 0.6, 0.7], [0.5, 0.6, 0.7])
    assert st.verdict("x", zero) == ("x: +0.0 points, 95 % CI +0.0 … +0.0, 3 paired seeds: "
                                     "no significant effect (paired t-test p = 1.000)")
    tiny = st.paired_difference([0.5, 0.7, 0.9], [0.2, 0.4, 0.6001])
    assert "p < 0.001" in st.verdict("x", tiny)
