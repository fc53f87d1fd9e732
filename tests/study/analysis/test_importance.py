"""Importances (over complete and over every finished trial), on mocked studies and by-hand cases."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from study.analysis import importance
from tests.study.report_studies import PROFILE, make_study, search_distributions

# Student's t quantile t_{0.975, 3}, from a printed table (not from scipy).
T_975_DF3 = 3.182446305284263


@pytest.fixture(autouse=True)
def _quiet_optuna():
    optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.parametrize("evaluator", importance.EVALUATORS)
def test_lambda_ranks_first_where_it_matters(evaluator):
    study = make_study("lambda", n_complete=60, n_pruned=6)
    result = importance.param_importance(study, evaluator)
    assert result.rank == 1, result.importances
    assert next(iter(result.importances)) == "log10_lambda"
    assert set(result.importances) == {"log10_lambda", "dropout", "hidden"}
    assert result.share == pytest.approx(max(result.importances.values()))
    assert sum(result.importances.values()) == pytest.approx(1.0)
    assert result.n_trials == 60  # the 6 pruned trials are not counted


@pytest.mark.parametrize("evaluator", importance.EVALUATORS)
def test_lambda_not_first_where_only_dropout_matters(evaluator):
    study = make_study("dropout")
    result = importance.param_importance(study, evaluator)
    assert result.rank != 1, result.importances
    assert next(iter(result.importances)) == "dropout"


def test_ped_anova_looks_at_the_best_trials_of_a_maximized_study():
    # The best trials concentrate in dropout, the worst in λ: without negating the target,
    # PED-ANOVA would explain the worst trials and rank λ first.
    study = make_study("best-dropout-worst-lambda")
    assert next(iter(importance.param_importance(study, "ped-anova").importances)) == "dropout"
    from optuna_dashboard._importance import _get_importance_target

    with pytest.warns(UserWarning, match="low `target` values"):
        dashboard = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.PedAnovaImportanceEvaluator(),
            target=_get_importance_target(study, 0))
    assert next(iter(dashboard)) == "dropout"


def test_fanova_is_seeded():
    study = make_study("lambda")
    first = importance.param_importance(study, "fanova", seed=3).importances
    assert importance.param_importance(study, "fanova", seed=3).importances == first


def test_importance_needs_two_complete_trials():
    study = make_study("lambda", n_complete=1, n_pruned=3)
    with pytest.raises(ValueError, match="at least 2 complete trials; the study has 1"):
        importance.param_importance(study, "fanova")
    with pytest.raises(ValueError, match="unknown evaluator"):
        importance.param_importance(make_study("lambda"), "shap")


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
    complete = importance.param_importance(study, "fanova")
    assert complete.n_trials == 20 and complete.epoch is None
    assert next(iter(complete.importances)) == "dropout"  # λ's harm was pruned away
    everything = importance.importance_all_trials(study)
    assert (everything.evaluator, everything.epoch, everything.n_trials) == ("fanova", 2, 40)
    assert everything.n_skipped == 0 and everything.rank == 1, everything.importances
    assert set(everything.importances) == {"log10_lambda", "dropout", "hidden"}
    assert everything.label == "fANOVA (40 finished trials at epoch 2)"
    assert everything.to_dict()["epoch"] == 2
    assert importance.importance_all_trials(study) == everything  # seeded: deterministic


def test_importance_over_all_trials_at_a_later_epoch_skips_and_counts():
    study = _pruned_lambda_study()
    late = importance.importance_all_trials(study, epoch=5, seed=1)
    assert (late.epoch, late.n_trials, late.n_skipped) == (5, 20, 20)
    assert late.label == "fANOVA (20 finished trials at epoch 5, 20 skipped)"
    assert importance.importance_all_trials(study, epoch=5, seed=1) == late
    ped = importance.importance_all_trials(study, evaluator="ped-anova")
    assert (ped.evaluator, ped.n_trials) == ("ped-anova", 40)
    with pytest.raises(ValueError, match="2 finished trials with a value at epoch 9; "
                                         "the study has 0"):
        importance.importance_all_trials(study, epoch=9)
    with pytest.raises(ValueError, match="unknown evaluator"):
        importance.importance_all_trials(study, evaluator="shap")


def test_importance_over_all_trials_needs_a_shared_epoch():
    study = _pruned_lambda_study(n_complete=3, n_pruned=0)
    study.add_trial(optuna.trial.create_trial(  # a trial that never reported
        state=TrialState.PRUNED, params=study.trials[0].params,
        distributions=study.trials[0].distributions))
    with pytest.raises(ValueError, match="4 finished trials share no reported epoch"):
        importance.importance_all_trials(study)
    assert importance.importance_all_trials(study, epoch=7).n_skipped == 1
    study.add_trial(optuna.trial.create_trial(  # a diverged trial: skipped and counted
        state=TrialState.PRUNED, params=study.trials[0].params,
        distributions=study.trials[0].distributions, intermediate_values={7: math.nan}))
    diverged = importance.importance_all_trials(study, epoch=7)
    assert (diverged.n_trials, diverged.n_skipped) == (3, 2)


def _result(evaluator, names, n, epoch=None):
    return importance.ImportanceResult(evaluator=evaluator, n_trials=n, epoch=epoch,
                                     importances={k: 1 / len(names) for k in names})


def test_rank_agreement_names_each_rank_and_n():
    lam_first = ["log10_lambda", "dropout", "hidden"]
    agree = importance.rank_agreement([_result("fanova", lam_first, 8),
                                     _result("ped-anova", lam_first, 8)])
    assert agree == ("λ's rank among 3 parameters: 1 by fANOVA (8 complete trials); "
                     "1 by PED-ANOVA (8 complete trials): the evaluators agree")
    disagree = importance.rank_agreement([_result("fanova", lam_first, 8),
                                        _result("ped-anova", ["dropout", *lam_first[::2]], 8),
                                        _result("fanova", lam_first, 20, epoch=2)])
    assert disagree == ("λ's rank among 3 parameters: 1 by fANOVA (8 complete trials); "
                        "2 by PED-ANOVA (8 complete trials); "
                        "1 by fANOVA (20 finished trials at epoch 2): the evaluators DISAGREE")
    assert "not searched" in importance.rank_agreement([_result("fanova", ["dropout"], 5)])
    assert importance.rank_agreement([]) == "no importances to compare"


def test_rank_agreement_on_a_study_where_pruning_hid_lambda():
    study = _pruned_lambda_study()
    line = importance.rank_agreement([importance.param_importance(study, "fanova"),
                                    importance.importance_all_trials(study)])
    assert line.endswith("the evaluators DISAGREE")
    assert "1 by fANOVA (40 finished trials at epoch 2)" in line
