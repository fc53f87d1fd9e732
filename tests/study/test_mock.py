"""The mocked objective: deterministic, λ matters most, reports per epoch, prunes on request."""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest

from objectives.context import ObjectiveContext
from objectives.mock import EPOCHS, MockObjective, curve, final_accuracy
from objectives.profiles import get_profile, with_max_epochs
from objectives.search_space import TrialParams, baseline_params
from objectives.spec import TrialSpec


class _Always(optuna.pruners.BasePruner):
    def prune(self, study, trial) -> bool:
        return True


def _ctx(tmp_path: Path, max_epochs: int | None = None, **kw) -> ObjectiveContext:
    profile = get_profile("quick")
    if max_epochs is not None:
        profile = with_max_epochs(profile, max_epochs)
    return ObjectiveContext(spec=TrialSpec(data="synthetic", profile=profile),
                            cache_dir=tmp_path / "c", model_dir=tmp_path / "m", study_name="t",
                            **kw)


def test_fixed_trial_is_deterministic_and_records_attrs(tmp_path: Path) -> None:
    params = {"log10_lambda": 0.5, "dropout": 0.3, "hidden": 64}
    values = []
    for _ in range(2):
        trial = optuna.trial.FixedTrial(params)
        values.append(MockObjective(_ctx(tmp_path))(trial))
    assert values[0] == values[1]
    attrs = trial.user_attrs
    assert attrs["lambda"] == pytest.approx(10**0.5)
    assert attrs["epochs"] == EPOCHS and len(attrs["val_curve"]) == EPOCHS
    assert values[0] == max(attrs["val_curve"])
    for name in ("test_accuracy", "seconds", "device", "feature_cache_key", "model_path"):
        assert name in attrs


def test_lambda_matters_most() -> None:
    base = TrialParams(lam=0.0, dropout=0.3, hidden=64)
    best = TrialParams(lam=3.0, dropout=0.3, hidden=64)
    assert final_accuracy(best) - final_accuracy(base) > 0.1
    # dropout and hidden size move the value by a few points at most
    assert abs(final_accuracy(TrialParams(0.0, 0.0, 64)) - final_accuracy(base)) < 0.05
    assert abs(final_accuracy(TrialParams(0.0, 0.3, 16)) - final_accuracy(base)) < 0.05
    # the curve depends on the parameters alone: equal parameters built apart give equal curves
    assert curve(best) == curve(TrialParams(lam=3.0, dropout=0.3, hidden=64)) != curve(base)
    # the enqueued baseline is a λ = 0 configuration
    baseline = baseline_params(get_profile("quick").search)
    trial = optuna.trial.FixedTrial(baseline)
    MockObjective(_ctx(Path("/nonexistent")))(trial)
    assert trial.user_attrs["lambda"] == 0.0


@pytest.mark.parametrize("pruner, state, epochs", [
    (_Always(), optuna.trial.TrialState.PRUNED, 1),
    (optuna.pruners.NopPruner(), optuna.trial.TrialState.COMPLETE, EPOCHS),
])
def test_pruning(tmp_path: Path, pruner, state, epochs: int) -> None:
    study = optuna.create_study(direction="maximize", pruner=pruner)
    study.optimize(MockObjective(_ctx(tmp_path)), n_trials=3)
    for trial in study.trials:
        assert trial.state == state
        assert trial.user_attrs["epochs"] == epochs
        assert len(trial.intermediate_values) == epochs


def test_delay_and_max_epochs(tmp_path: Path) -> None:
    objective = MockObjective(_ctx(tmp_path, max_epochs=3, mock_delay=0.3))
    trial = optuna.trial.FixedTrial({"log10_lambda": 1.0, "dropout": 0.2, "hidden": 32})
    started = time.perf_counter()
    objective(trial)
    assert time.perf_counter() - started >= 0.29
    assert trial.user_attrs["epochs"] == 3
