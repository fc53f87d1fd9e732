"""The Optuna objective: one worker-lifetime object that trains one configuration per call."""

from __future__ import annotations

from pathlib import Path

import optuna

from objectives.context import ObjectiveContext, ReplicateOutcome
from objectives.data import load_training_data
from objectives.pruning import TrialPruningCallback
from objectives.search_space import TrialParams, suggest
from objectives.training import configure_threads, quiet_lightning, train_configuration


class LstmObjective:
    """Built once per worker: the feature cache is loaded here, never per trial."""

    def __init__(self, ctx: ObjectiveContext) -> None:
        self.ctx = ctx
        self.spec = ctx.spec
        self.profile = ctx.spec.profile
        configure_threads(ctx.threads)
        quiet_lightning()
        self.data = load_training_data(self.spec, ctx.cache_dir)  # padded once per worker

    def __call__(self, trial: optuna.trial.Trial) -> float:
        """A search trial: validation accuracy reported per epoch, pruned when told."""
        params = suggest(trial, self.profile.search)
        pruning = TrialPruningCallback(trial, monitor="val/acc")
        model_path = self.ctx.model_path(trial.number)
        seed = self.spec.seed + trial.number
        trial.set_user_attr("seed", seed)
        outcome = train_configuration(self.data, params, self.profile, seed=seed,
                                      device=self.ctx.device, extra_callbacks=[pruning],
                                      checkpoint_path=model_path)
        for name, value in (("test_accuracy", outcome.test_accuracy), ("epochs", outcome.epochs),
                            ("seconds", round(outcome.seconds, 3)), ("device", outcome.device),
                            ("feature_cache_key", self.data.key), ("model_path", str(model_path)),
                            ("best_epoch", outcome.best_epoch), ("val_curve", outcome.val_curve)):
            trial.set_user_attr(name, value)
        if pruning.pruned_at is not None:
            raise optuna.TrialPruned(f"pruned after epoch {pruning.pruned_at}")
        return outcome.val_accuracy

    def replicate(self, params: TrialParams, seed: int,
                  model_path: Path | None = None) -> ReplicateOutcome:
        """A replicate run: the full epochs, no pruning, every test (and holdout) clip predicted;
        the best-validation weights saved to `model_path` when one is given."""
        outcome = train_configuration(self.data, params, self.profile, seed=seed,
                                      device=self.ctx.device, checkpoint_path=model_path)
        return ReplicateOutcome(
            val_accuracy=outcome.val_accuracy, test_accuracy=outcome.test_accuracy,
            epochs=outcome.epochs, seconds=outcome.seconds, device=outcome.device,
            test_labels=outcome.test_labels, test_predictions=outcome.test_predictions,
            holdout_accuracy=outcome.holdout_accuracy, holdout_labels=outcome.holdout_labels,
            holdout_predictions=outcome.holdout_predictions)
