"""The run-noise benchmark's statistics on hand-made rows (pure functions, nothing trained)."""

from __future__ import annotations

import pytest
from scipy import stats

from bench.run_noise import Variant, half_width, noise, seeds_for

SEED_EFFECT = {0: 0.02, 1: -0.03, 2: 0.01, 3: 0.0}
ARM_MEAN = {0.0: 0.60, 1.0: 0.64, 10.0: 0.58}


def rows(residual: dict | None = None) -> list[dict]:
    residual = residual or {}
    return [{"lam": lam, "seed": seed, "val": mean + effect + residual.get((lam, seed), 0.0),
             "test": mean + effect} for lam, mean in ARM_MEAN.items()
            for seed, effect in SEED_EFFECT.items()]


def test_seed_effects_are_blocked_out_of_the_paired_and_residual_sd():
    result = noise(rows(), "test")
    seed_sd = stats.tstd([100 * e for e in SEED_EFFECT.values()])
    assert result["per_arm_sd"] == pytest.approx({"lam0": seed_sd, "lam1": seed_sd,
                                                  "lam10": seed_sd})
    assert result["paired_sd"] == pytest.approx({"lam1": 0.0, "lam10": 0.0}, abs=1e-9)
    assert result["residual_sd"] == pytest.approx(0.0, abs=1e-9)
    assert result["residual_df"] == (3 - 1) * (4 - 1) and result["seeds"] == 4
    assert result["mean"]["lam1"] == pytest.approx(100 * 0.64 + 0.0)


def test_residual_sd_is_the_interaction_left_after_arm_and_seed():
    # One cell off by 6 points: an interaction that arm and seed effects cannot absorb.
    result = noise(rows({(1.0, 2): 0.06}), "val")
    assert result["residual_sd"] > 0 and result["paired_sd"]["lam1"] > 0
    assert result["paired_sd"]["lam10"] == pytest.approx(0.0, abs=1e-9)
    clean = noise(rows({(1.0, 2): 0.06}), "test")
    assert clean["residual_sd"] == pytest.approx(0.0, abs=1e-9)


def test_seeds_for_is_the_fewest_that_reach_the_target():
    for sigma in (2.0, 4.5, 6.0):
        n = seeds_for(sigma)
        assert half_width(sigma, n) <= 6.0 < half_width(sigma, n - 1) or n == 2
    # t(0.975, 9·4)·σ·√(2/5) for the default's 10 arms at 5 seeds.
    assert half_width(6.0, 5) == pytest.approx(stats.t.ppf(0.975, 36) * 6.0 * 0.4 ** 0.5)


def test_variant_settings_parse_and_unknown_ones_fail():
    variant = Variant.parse("after:eval_scale=4,lr_decay=0.85,max_epochs=16")
    assert (variant.eval_scale, variant.train) == (4, {"lr_decay": 0.85, "max_epochs": 16})
    assert variant.profile().train.lr_decay == 0.85
    with pytest.raises(SystemExit):
        Variant.parse("x:nope=1")
