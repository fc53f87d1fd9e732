"""A mock objective that saves each trial's model like the real one: a real (untrained) model,
written by `objectives.checkpoint.save_checkpoint` to `ctx.model_path(trial)`, and each
replicate run's to the `model_path` the service passes.

Workers import it by name (`--objective tests.study.saving_objective:SavesModels`), so where
models land and what a failed save does are tested through the real worker in milliseconds.
"""

from __future__ import annotations

import types
from pathlib import Path

import optuna

from objectives.checkpoint import save_checkpoint
from objectives.context import ReplicateOutcome
from objectives.mock import CLASSES, MockObjective
from objectives.model import ReconBiLSTM
from objectives.search_space import TrialParams


class SavesModels(MockObjective):
    def __call__(self, trial: optuna.trial.BaseTrial) -> float:
        value = super().__call__(trial)  # pruned trials raise here and save nothing, as in lstm
        params = TrialParams(lam=0.0, dropout=trial.params["dropout"],
                             hidden=trial.params["hidden"])
        path = self.ctx.model_path(trial.number)
        self._save(path, params, value)
        trial.set_user_attr("model_path", str(path))
        return value

    def replicate(self, params: TrialParams, seed: int,
                  model_path: Path | None = None) -> ReplicateOutcome:
        outcome = super().replicate(params, seed)
        if model_path is not None:
            self._save(model_path, params, outcome.val_accuracy)
        return outcome

    def _save(self, path: Path, params: TrialParams, value: float) -> None:
        model = ReconBiLSTM(self.profile.features.n_mels, CLASSES, params.hidden, params.dropout)
        outcome = types.SimpleNamespace(val_accuracy=value, test_accuracy=value)
        save_checkpoint(path, model, classes=[str(c) for c in range(CLASSES)], params=params,
                        profile=self.profile, outcome=outcome)


class SavesSearchModelsOnly(SavesModels):
    """An objective written before `replicate` took `model_path`: called without one."""

    def replicate(self, params: TrialParams, seed: int) -> ReplicateOutcome:
        return MockObjective.replicate(self, params, seed)
