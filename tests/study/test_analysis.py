"""Importances (over complete and over every finished trial), the search's λ comparison and λ's
decoding, on mocked studies and by-hand cases."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from objectives import search_space
from study import analysis
from tests.study.report_studies import PROFILE, make_study, search_distributions

# Student's t quantile t_{0.975, 3}, from a printed table (not from scipy).
T_975_DF3 = 3.182446305284263


@pytest.fixture(autouse=True)
def _quiet_optuna():
    optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.parametrize("evaluator", analysis.EVALUATORS)
def test_lambda_ranks_first_where_it_matters(evaluator):
    study = make_study("lambda", n_complete=60, n_pruned=6)
    result = analysis.param_importance(study, evaluator)
    assert result.rank == 1, result.importances
    assert next(iter(result.importances)) == "log10_lambda"
    assert set(result.importances) == {"log10_lambda", "dropout", "hidden"}
    assert result.share == pytest.approx(max(result.importances.values()))
    assert sum(result.importances.values()) == pytest.approx(1.0)
    assert result.n_trials == 60  # the 6 pruned trials are not counted


@pytest.mark.parametrize("evaluator", analysis.EVALUATORS)
def test_lambda_not_first_where_only_dropout_matters(evaluator):
    study = make_study("dropout")
    result = analysis.param_importance(study, evaluator)
    assert result.rank != 1, result.importances
    assert next(iter(result.importances)) == "dropout"


def test_ped_anova_looks_at_the_best_trials_of_a_maximized_study():
    # The best trials concentrate in dropout, the worst in λ: without negating the target,
    # PED-ANOVA would explain the worst trials and rank λ first.
    study = make_study("best-dropout-worst-lambda")
    assert next(iter(analysis.param_importance(study, "ped-anova").importances)) == "dropout"
    from optuna_dashboard._importance import _get_importance_target

    with pytest.warns(UserWarning, match="low `target` values"):
        dashboard = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.PedAnovaImportanceEvaluator(),
            target=_get_importance_target(study, 0))
    assert next(iter(dashboard)) == "dropout"


def test_fanova_is_seeded():
    study = make_study("lambda")
    first = analysis.param_importance(study, "fanova", seed=3).importances
    assert analysis.param_importance(study, "fanova", seed=3).importances == first


def test_importance_needs_two_complete_trials():
    study = make_study("lambda", n_complete=1, n_pruned=3)
    with pytest.raises(ValueError, match="at least 2 complete trials; the study has 1"):
        analysis.param_importance(study, "fanova")
    with pytest.raises(ValueError, match="unknown evaluator"):
        analysis.param_importance(make_study("lambda"), "shap")


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
    effect = analysis.lambda_effect(study)
    assert (effect.baseline.n_trials, effect.baseline.trial_number) == (2, 1)
    # the test accuracy of the best-validation trial, not the best test accuracy (0.70)
    assert effect.baseline.test_accuracy == 0.40
    assert (effect.with_lambda.n_trials, effect.with_lambda.trial_number) == (2, 3)
    assert effect.with_lambda.lam == pytest.approx(10.0)
    assert effect.val_gain == pytest.approx(0.10)


def test_lambda_is_decoded_with_the_study_bounds():
    bare = _trial(-2.5, 0.5, 0.5, lam_attr=False)  # no `lambda` user attribute
    assert analysis.effective_lambda(bare, PROFILE.search) == 0.0
    assert analysis.effective_lambda(_trial(1.0, 0.5, 0.5, lam_attr=False),
                                     PROFILE.search) == pytest.approx(10)
    assert analysis.effective_lambda is search_space.effective_lambda  # one decoder
    study = optuna.create_study(direction="maximize")
    study.add_trials([_trial(-2.5, 0.60, 0.5, lam_attr=False),
                      _trial(1.0, 0.55, 0.5, lam_attr=False)])
    effect = analysis.lambda_effect(study, PROFILE.search)
    assert (effect.baseline.trial_number, effect.with_lambda.trial_number) == (0, 1)
    assert effect.with_lambda.lam == pytest.approx(10)
    # without the bounds a trial that lacks the attribute belongs to neither arm
    assert analysis.lambda_effect(study).baseline.n_trials == 0


def _pruned_lambda_study(n_complete: int = 20, n_pruned: int = 20) -> optuna.Study:
    """Large λ ruins training and is pruned at epoch 2; among the trials that complete (small λ)
    only dropout matters. λ's effect lives in the pruned trials' curves alone."""
    rng = np.random.default_rng(0)
    low, high, step = PROFILE.search.hidden
    study = optuna.create_study(direction="maximize")
    trials = []
    for i in range(n_complete + n_pruned):
        pruned = i >= n_complete
        log10_lambda = float(rng.uniform(1.2, 2.0) if pruned else rng.uniform(-1.0, 0.5))
        params = {"log10_lambda": log10_lambda, "dropout": float(rng.uniform(0.0, 0.6)),
                  "hidden": int(rng.choice(np.arange(low, high + 1, step)))}
        final = 0.15 if pruned else 0.5 + 0.3 * (1 - abs(params["dropout"] - 0.3) / 0.3)
        curve = [final * (1 - math.exp(-(e + 1) / 2.0)) + rng.normal(0, 0.003)
                 for e in range(3 if pruned else 8)]
        trials.append(optuna.trial.create_trial(
            state=TrialState.PRUNED if pruned else TrialState.COMPLETE,
            value=None if pruned else max(curve), params=params,
            distributions=search_distributions(), intermediate_values=dict(enumerate(curve))))
    study.add_trials(trials)
    return study


def test_importance_over_all_trials_counts_the_pruned_ones():
    study = _pruned_lambda_study()
    complete = analysis.param_importance(study, "fanova")
    assert complete.n_trials == 20 and complete.epoch is None
    assert next(iter(complete.importances)) == "dropout"  # λ's harm was pruned away
    everything = analysis.importance_all_trials(study)
    assert (everything.evaluator, everything.epoch, everything.n_trials) == ("fanova", 2, 40)
    assert everything.n_skipped == 0 and everything.rank == 1, everything.importances
    assert set(everything.importances) == {"log10_lambda", "dropout", "hidden"}
    assert everything.label == "fANOVA (40 finished trials at epoch 2)"
    assert everything.to_dict()["epoch"] == 2
    assert analysis.importance_all_trials(study) == everything  # seeded: deterministic


def test_importance_over_all_trials_at_a_later_epoch_skips_and_counts():
    study = _pruned_lambda_study()
    late = analysis.importance_all_trials(study, epoch=5, seed=1)
    assert (late.epoch, late.n_trials, late.n_skipped) == (5, 20, 20)
    assert late.label == "fANOVA (20 finished trials at epoch 5, 20 skipped)"
    assert analysis.importance_all_trials(study, epoch=5, seed=1) == late
    ped = analysis.importance_all_trials(study, evaluator="ped-anova")
    assert (ped.evaluator, ped.n_trials) == ("ped-anova", 40)
    with pytest.raises(ValueError, match="2 finished trials with a value at epoch 9; "
                                         "the study has 0"):
        analysis.importance_all_trials(study, epoch=9)
    with pytest.raises(ValueError, match="unknown evaluator"):
        analysis.importance_all_trials(study, evaluator="shap")


def test_importance_over_all_trials_needs_a_shared_epoch():
    study = _pruned_lambda_study(n_complete=3, n_pruned=0)
    study.add_trial(optuna.trial.create_trial(  # a trial that never reported
        state=TrialState.PRUNED, params=study.trials[0].params,
        distributions=study.trials[0].distributions))
    with pytest.raises(ValueError, match="4 finished trials share no reported epoch"):
        analysis.importance_all_trials(study)
    assert analysis.importance_all_trials(study, epoch=7).n_skipped == 1
    study.add_trial(optuna.trial.create_trial(  # a diverged trial: skipped and counted
        state=TrialState.PRUNED, params=study.trials[0].params,
        distributions=study.trials[0].distributions, intermediate_values={7: math.nan}))
    diverged = analysis.importance_all_trials(study, epoch=7)
    assert (diverged.n_trials, diverged.n_skipped) == (3, 2)


def _result(evaluator, names, n, epoch=None):
    return analysis.ImportanceResult(evaluator=evaluator, n_trials=n, epoch=epoch,
                                     importances={k: 1 / len(names) for k in names})


def test_rank_agreement_names_each_rank_and_n():
    lam_first = ["log10_lambda", "dropout", "hidden"]
    agree = analysis.rank_agreement([_result("fanova", lam_first, 8),
                                     _result("ped-anova", lam_first, 8)])
    assert agree == ("λ's rank among 3 parameters: 1 by fANOVA (8 complete trials); "
                     "1 by PED-ANOVA (8 complete trials): the evaluators agree")
    disagree = analysis.rank_agreement([_result("fanova", lam_first, 8),
                                        _result("ped-anova", ["dropout", *lam_first[::2]], 8),
                                        _result("fanova", lam_first, 20, epoch=2)])
    assert disagree == ("λ's rank among 3 parameters: 1 by fANOVA (8 complete trials); "
                        "2 by PED-ANOVA (8 complete trials); "
                        "1 by fANOVA (20 finished trials at epoch 2): the evaluators DISAGREE")
    assert "not searched" in analysis.rank_agreement([_result("fanova", ["dropout"], 5)])
    assert analysis.rank_agreement([]) == "no importances to compare"


def test_rank_agreement_on_a_study_where_pruning_hid_lambda():
    study = _pruned_lambda_study()
    line = analysis.rank_agreement([analysis.param_importance(study, "fanova"),
                                    analysis.importance_all_trials(study)])
    assert line.endswith("the evaluators DISAGREE")
    assert "1 by fANOVA (40 finished trials at epoch 2)" in line
