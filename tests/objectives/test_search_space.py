from __future__ import annotations

import dataclasses

import optuna
import pytest

from objectives.profiles import get_profile
from objectives.search_space import (
    TrialParams,
    baseline_params,
    from_params,
    lambda_from_log10,
    suggest,
    validate,
    with_ranges,
)

QUICK = get_profile("quick")


def test_fixed_trial_gives_plain_numbers():
    trial = optuna.trial.FixedTrial({"log10_lambda": 1.0, "dropout": 0.25, "hidden": 32})
    params = suggest(trial, QUICK.search)
    assert params == TrialParams(lam=pytest.approx(10.0), dropout=0.25, hidden=32)
    assert trial.user_attrs["lambda"] == pytest.approx(10.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.lam = 1.0


def test_bottom_decade_means_lambda_zero():
    trial = optuna.trial.FixedTrial({"log10_lambda": -2.5, "dropout": 0.0, "hidden": 16})
    assert suggest(trial, QUICK.search).lam == 0.0
    assert trial.user_attrs["lambda"] == 0.0
    assert lambda_from_log10(-2.0, QUICK.search) == pytest.approx(0.01)
    assert lambda_from_log10(2.0, QUICK.search) == pytest.approx(100.0)


def test_baseline_is_lambda_zero_with_reference_parameters():
    params = baseline_params(get_profile("paper").search)
    assert from_params(params, get_profile("paper").search) == TrialParams(0.0, 0.3, 128)
    trial = optuna.trial.FixedTrial(params)
    assert suggest(trial, get_profile("paper").search).lam == 0.0


def test_best_params_rebuild_without_a_trial():
    study = optuna.create_study(direction="maximize")
    study.optimize(lambda t: suggest(t, QUICK.search).dropout, n_trials=3)
    rebuilt = from_params(study.best_params, QUICK.search)
    assert rebuilt.lam == study.best_trial.user_attrs["lambda"]


def test_out_of_range_value_is_flagged():
    with pytest.warns(UserWarning, match="out of the range"):
        suggest(optuna.trial.FixedTrial({"log10_lambda": 5.0, "dropout": 0.1, "hidden": 16}), QUICK.search)


def test_invalid_bounds_are_reported():
    broken = dataclasses.replace(QUICK, search=dataclasses.replace(QUICK.search, dropout=(0.5, 0.2)))
    with pytest.raises(ValueError, match="dropout"):
        validate(broken)
    validate(QUICK)


def test_ranges_in_lambda_units_keep_lambda_zero_in_the_same_parameter():
    profile = with_ranges(QUICK, lambda_range=(0.1, 10.0), hidden_range=(32, 96, 32))
    assert profile.search.log10_lambda == pytest.approx((-2.0, 1.0))
    assert lambda_from_log10(-1.5, profile.search) == 0.0
    assert lambda_from_log10(-1.0, profile.search) == pytest.approx(0.1)
    assert profile.search.baseline_hidden == 64  # already on the new grid
    assert with_ranges(QUICK, hidden_range=(80, 96, 16)).search.baseline_hidden == 80
    with pytest.raises(ValueError, match="0 < low < high"):
        with_ranges(QUICK, lambda_range=(1.0, 1.0))
