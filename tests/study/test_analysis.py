"""Importances, the λ effect and the ablation statistics, on mocked studies and by-hand cases."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState

from study import analysis
from study.ablation import AblationPlan, AblationResult, AblationRun, plan_ablation
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


def test_effective_lambda_falls_back_to_the_parameter():
    assert analysis.effective_lambda(_trial(1.0, 0.5, 0.5, lam_attr=False)) == pytest.approx(10)
    assert analysis.effective_lambda(_trial(-2.5, 0.5, 0.5, lam_attr=False)) == 0.0
    assert PROFILE.search.lambda_off_below == -2.0  # the fallback's cut-off is the profile's


def test_mean_ci_by_hand():
    ci = analysis.mean_ci([0.50, 0.52, 0.54, 0.56])
    # mean 0.53; s = sqrt((0.03² + 0.01² + 0.01² + 0.03²) / 3) = sqrt(0.002 / 3)
    s = math.sqrt(0.002 / 3)
    half = T_975_DF3 * s / 2  # / sqrt(4)
    assert ci.n == 4 and ci.mean == pytest.approx(0.53)
    assert ci.std == pytest.approx(s)
    assert (ci.low, ci.high) == (pytest.approx(0.53 - half), pytest.approx(0.53 + half))
    assert ci.half_width == pytest.approx(0.041085, abs=1e-6)


def test_ablation_stats_by_hand():
    with_lam = [0.80, 0.82, 0.78, 0.84]
    without = [0.76, 0.80, 0.77, 0.79]
    st = analysis.ablation_stats(with_lam, without)
    assert st.with_lambda.mean == pytest.approx(0.81)
    assert st.without_lambda.mean == pytest.approx(0.78)
    # differences 0.04, 0.02, 0.01, 0.05: mean 0.03, s = sqrt(0.001 / 3)
    s = math.sqrt(0.001 / 3)
    half = T_975_DF3 * s / 2
    assert st.difference.mean == pytest.approx(0.03)
    assert st.difference.low == pytest.approx(0.03 - half)  # 0.000948: just above zero
    assert st.difference.high == pytest.approx(0.03 + half)
    assert st.difference.low > 0
    # paired t = 0.03 / (s / 2) = 3.2863 with 3 degrees of freedom: two-sided p ≈ 0.0462
    assert 0.03 / (s / 2) == pytest.approx(3.2863, abs=1e-4)
    assert st.p_value == pytest.approx(0.0462, abs=5e-4)


def test_ablation_stats_edge_cases():
    one = analysis.ablation_stats([0.8], [0.7])
    assert math.isnan(one.difference.low) and math.isnan(one.p_value)
    assert "no interval" in one.difference.format()
    same = analysis.ablation_stats([0.75, 0.5], [0.5, 0.25])  # identical differences
    assert same.difference.half_width == pytest.approx(0.0) and same.p_value == 0.0
    with pytest.raises(ValueError, match="paired"):
        analysis.ablation_stats([0.8, 0.9], [0.7])


def test_ablation_plan_and_result_round_trip():
    study = make_study("lambda")
    plan = plan_ablation(study)
    best = study.best_trial
    assert plan.trial_number == best.number and plan.lam == best.user_attrs["lambda"] > 0
    assert (plan.dropout, plan.hidden) == (best.params["dropout"], best.params["hidden"])
    result = AblationResult(plan, [AblationRun(1, plan.lam, 0.8, 0.8, 3, 1.0, "cpu")],
                            [AblationRun(1, 0.0, 0.7, 0.7, 3, 1.0, "cpu")])
    assert AblationResult.from_dict(result.to_dict()) == result


def test_ablation_plan_when_the_best_trial_has_no_lambda():
    study = optuna.create_study(direction="maximize")
    study.add_trials([_trial(-3.0, 0.70, 0.6), _trial(0.0, 0.60, 0.5), _trial(1.0, 0.65, 0.6)])
    plan = plan_ablation(study)
    assert plan == AblationPlan(trial_number=0, lam=pytest.approx(10.0), dropout=0.3, hidden=64,
                                note=plan.note)
    assert "λ = 0" in plan.note and "#2" in plan.note
