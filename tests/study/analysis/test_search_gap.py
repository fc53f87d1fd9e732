"""The search's best λ = 0 trial against its best λ > 0 trial, and λ's decoding there."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from objectives import search_space
from study.analysis import search_gap
from tests.study.report_studies import PROFILE, search_distributions


def _trial(log10_lambda, value, test, lam_attr=True):
    params = {"log10_lambda": log10_lambda, "dropout": 0.3, "hidden": 64}
    attrs = {"test_accuracy": test}
    if lam_attr:
        attrs["lambda"] = 0.0 if log10_lambda < -2 else 10.0**log10_lambda
    return optuna.trial.create_trial(params=params, distributions=search_distributions(),
                                     value=value, user_attrs=attrs)


def test_lambda_effect_picks_the_best_validation_trial_of_each_arm():
    study = optuna.create_study(direction="maximize")
    study.add_trials([_trial(-3.0, 0.50, 0.70), _trial(-2.5, 0.55, 0.40),  # λ = 0
                      _trial(0.0, 0.60, 0.58), _trial(1.0, 0.65, 0.61),  # λ = 1, 10
                      optuna.trial.create_trial(state=TrialState.PRUNED, params={
                          "log10_lambda": 1.5, "dropout": 0.1, "hidden": 16},
                          distributions=search_distributions(), user_attrs={"lambda": 31.6})])
    effect = search_gap.lambda_effect(study)
    assert (effect.baseline.n_trials, effect.baseline.trial_number) == (2, 1)
    # the test accuracy of the best-validation trial, not the best test accuracy (0.70)
    assert effect.baseline.test_accuracy == 0.40
    assert (effect.with_lambda.n_trials, effect.with_lambda.trial_number) == (2, 3)
    assert effect.with_lambda.lam == pytest.approx(10.0)
    assert effect.val_gain == pytest.approx(0.10)


def test_lambda_is_decoded_with_the_study_bounds():
    bare = _trial(-2.5, 0.5, 0.5, lam_attr=False)  # no `lambda` user attribute
    assert search_gap.effective_lambda(bare, PROFILE.search) == 0.0
    assert search_gap.effective_lambda(_trial(1.0, 0.5, 0.5, lam_attr=False),
                                     PROFILE.search) == pytest.approx(10)
    assert search_gap.effective_lambda is search_space.effective_lambda  # one decoder
    study = optuna.create_study(direction="maximize")
    study.add_trials([_trial(-2.5, 0.60, 0.5, lam_attr=False),
                      _trial(1.0, 0.55, 0.5, lam_attr=False)])
    effect = search_gap.lambda_effect(study, PROFILE.search)
    assert (effect.baseline.trial_number, effect.with_lambda.trial_number) == (0, 1)
    assert effect.with_lambda.lam == pytest.approx(10)
    # without the bounds a trial that lacks the attribute belongs to neither arm
    assert search_gap.lambda_effect(study).baseline.n_trials == 0
