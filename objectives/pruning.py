"""Reports validation accuracy to an Optuna trial once per epoch and stops pruned trials.

Unlike optuna-integration's callback, a missing metric is an error: otherwise pruning would
silently never happen.
"""

from __future__ import annotations

import optuna
from lightning.pytorch import Callback, LightningModule, Trainer


class MissingMetricError(RuntimeError):
    pass


class TrialPruningCallback(Callback):
    """After every validation epoch: `trial.report(metric, epoch)`; stop training if told to prune."""

    def __init__(self, trial: optuna.trial.BaseTrial, monitor: str = "val/acc") -> None:
        self.trial = trial
        self.monitor = monitor
        self.pruned_at: int | None = None

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # A run resumed from a resume checkpoint (a retried trial) reports the epochs it restored
        # first, so the trial's curve has every epoch once, as an uncut run's has. (The retry is
        # a new trial that inherits no intermediate values; a step reported twice Optuna ignores.)
        for epoch, value in enumerate(getattr(pl_module, "val_curve", [])):
            self.trial.report(float(value), step=epoch)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            logged = ", ".join(sorted(trainer.callback_metrics)) or "nothing"
            raise MissingMetricError(
                f"pruning metric {self.monitor!r} was not logged (logged: {logged})")
        epoch = trainer.current_epoch
        self.trial.report(float(value), step=epoch)
        if self.trial.should_prune():
            # Stop at the end of this epoch; the objective raises TrialPruned after recording
            # what the trial did, so pruned trials keep their attributes.
            self.pruned_at = epoch
            trainer.should_stop = True
