"""The Optuna objective: one worker-lifetime object that trains one configuration per call."""

from __future__ import annotations

import optuna

from objectives.context import ObjectiveContext
from objectives.data import load_training_data
from objectives.experiment import Experiment
from objectives.pruning import TrialPruningCallback
from objectives.search_space import suggest
from objectives.training import configure_threads, quiet_lightning, train_configuration


class LstmObjective:
    """Built once per worker: the feature cache is loaded here, never per trial."""

    def __init__(self, ctx: ObjectiveContext) -> None:
        self.ctx = ctx
        self.profile = ctx.profile_settings()
        configure_threads()
        quiet_lightning()
        experiment = Experiment(data=ctx.data, profile=self.profile, split=ctx.split, seed=ctx.seed)
        self.data = load_training_data(experiment, ctx.cache_dir)  # padded once per worker

    def __call__(self, trial: optuna.trial.Trial) -> float:
        params = suggest(trial, self.profile.search)
        pruning = TrialPruningCallback(trial, monitor="val/acc")
        model_path = self.ctx.model_path(trial.number)
        seed = self.ctx.seed + trial.number
        trial.set_user_attr("seed", seed)
        outcome = train_configuration(
            self.data, params, self.profile, seed=seed,
            max_epochs=self.ctx.max_epochs, device=self.ctx.device, extra_callbacks=[pruning],
            checkpoint_path=model_path)
        for name, value in (("test_accuracy", outcome.test_accuracy), ("epochs", outcome.epochs),
                            ("seconds", round(outcome.seconds, 3)), ("device", outcome.device),
                            ("feature_cache_key", self.data.key), ("model_path", str(model_path)),
                            ("best_epoch", outcome.best_epoch), ("val_curve", outcome.val_curve)):
            trial.set_user_attr(name, value)
        if pruning.pruned_at is not None:
            raise optuna.TrialPruned(f"pruned after epoch {pruning.pruned_at}")
        return outcome.val_accuracy
