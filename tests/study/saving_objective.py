"""A mock objective that saves each trial's model like the real one: a real (untrained) model,
written by `objectives.checkpoint.save_checkpoint` to `ctx.model_path(trial)`.

Workers import it by name (`--objective tests.study.saving_objective:SavesModels`), so where
models land and what a failed save does are tested through the real worker in milliseconds.
"""

from __future__ import annotations

import types

import optuna

from objectives.checkpoint import save_checkpoint
from objectives.mock import CLASSES, MockObjective
from objectives.model import ReconBiLSTM
from objectives.search_space import TrialParams


class SavesModels(MockObjective):
    def __call__(self, trial: optuna.trial.BaseTrial) -> float:
        value = super().__call__(trial)  # pruned trials raise here and save nothing, as in lstm
        params = TrialParams(lam=0.0, dropout=trial.params["dropout"],
                             hidden=trial.params["hidden"])
        model = ReconBiLSTM(self.profile.features.n_mels, CLASSES, params.hidden, params.dropout)
        path = self.ctx.model_path(trial.number)
        outcome = types.SimpleNamespace(val_accuracy=value, test_accuracy=value)
        save_checkpoint(path, model, classes=[str(c) for c in range(CLASSES)], params=params,
                        profile=self.profile, outcome=outcome)
        trial.set_user_attr("model_path", str(path))
        return value
