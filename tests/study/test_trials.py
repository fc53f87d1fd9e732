"""Trial states counted one way, and the best trial with ties going to the first."""

from __future__ import annotations

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from study.trials import FINISHED, best_of, best_trial, count_states, n_finished

_X = {"x": FloatDistribution(0, 1)}


def _trial(state: TrialState, value: float | None = None) -> optuna.trial.FrozenTrial:
    return create_trial(state=state, value=value, params={"x": 0.5}, distributions=_X)


def _study(*trials: optuna.trial.FrozenTrial) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    study.add_trials(list(trials))
    return study


def test_count_states_lists_every_state():
    counts = count_states([_trial(TrialState.COMPLETE, 0.5), _trial(TrialState.PRUNED),
                           _trial(TrialState.PRUNED)])
    assert counts == {state.name: {"COMPLETE": 1, "PRUNED": 2}.get(state.name, 0)
                      for state in TrialState}


def test_finished_means_complete_or_pruned():
    study = _study(_trial(TrialState.COMPLETE, 0.5), _trial(TrialState.PRUNED),
                   _trial(TrialState.FAIL), _trial(TrialState.WAITING))
    assert set(FINISHED) == {TrialState.COMPLETE, TrialState.PRUNED}
    assert n_finished(study) == 2


def test_the_best_trial_is_the_first_of_equal_values():
    study = _study(_trial(TrialState.COMPLETE, 0.4), _trial(TrialState.COMPLETE, 0.7),
                   _trial(TrialState.COMPLETE, 0.7), _trial(TrialState.PRUNED))
    assert best_trial(study).number == 1
    assert best_of(study.trials[2:]).number == 2
    assert best_of([_trial(TrialState.PRUNED)]) is None
