"""The objective's side of the service: what a factory is given, what a replicate run returns.

The service builds one `ObjectiveContext` per worker process (its `spec` says what a trial
needs of the study's experiment) and calls the objective factory once
with it. The factory returns an object that is called with a trial for every search trial
(`objective(trial) -> validation accuracy`, reporting once per epoch for pruning) and, for the
replicate phase, `objective.replicate(params, seed, model_path=None) -> ReplicateOutcome`: one
fixed configuration, full epochs, no pruning, its best-validation model saved to `model_path` when
given (the service uploads it to the study's artifact store; an objective whose `replicate` takes
no `model_path` is called without one). A search trial's model is the file its `model_path` user
attribute names, written to `model_path(trial.number)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from objectives.spec import TrialSpec


@dataclass(frozen=True)
class ObjectiveContext:
    spec: TrialSpec  # data, split, seed, holdout and profile of the study's experiment
    study_name: str
    cache_dir: Path  # feature caches live below this
    model_dir: Path  # models: model_dir / study_dir / trial_<number>.pt
    study_dir: str = ""  # the study's directory name (a safe form of its name); "" = the name
    device: str = "auto"  # "auto", "cpu", "cuda" (the launcher sets CUDA_VISIBLE_DEVICES)
    threads: int = 1  # torch threads of this process (CPU workers)
    mock_delay: float = 0.0  # seconds per mock trial (tests and benchmarks)

    def model_path(self, trial_number: int) -> Path:
        return self.model_dir / (self.study_dir or self.study_name) / f"trial_{trial_number:05d}.pt"


@dataclass(frozen=True)
class ReplicateOutcome:
    """One replicate run: its accuracies and the per-clip predictions behind them."""

    val_accuracy: float  # best over epochs
    test_accuracy: float  # of the best-validation weights
    epochs: int
    seconds: float
    device: str
    test_labels: list[int] = field(default_factory=list)  # class index per test clip
    test_predictions: list[int] = field(default_factory=list)  # predicted class per test clip
    holdout_accuracy: float | None = None  # on the study's holdout source, if it names one
    holdout_labels: list[int] = field(default_factory=list)
    holdout_predictions: list[int] = field(default_factory=list)
