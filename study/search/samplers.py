"""The pruner and the sampler every worker of a study builds from the study's experiment.

Optuna stores neither, so the pruner's settings are part of the experiment. The sampler is TPE as
Optuna 5 defaults it (multivariate, constant liar), seeded per TRIAL from the experiment's seed
and the trial's number: the parameters of trial n depend on the seed, n and the results known
when it is asked, never on which process or host asks. So one worker repeats a study exactly, and
parallel workers never share a random stream (workers sharing one seed would suggest alike).
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.samplers import BaseSampler, TPESampler

PRUNERS = ("median", "successive-halving", "hyperband", "none")


class UnknownPrunerError(ValueError):
    pass


def pruner_spec(name: str, max_epochs: int) -> dict[str, Any]:
    """Settings of the named pruner for trials of up to `max_epochs` epochs."""
    if name == "median":
        # No pruning in the first tenth of the epochs (at least one): the first accuracies of
        # every configuration look alike, so their median is noise. Measured on the quick
        # profile (12 epochs, so 1 warm-up epoch) in BENCHMARKS.md section 3.
        return {"name": "median", "n_startup_trials": 5,
                "n_warmup_steps": max(1, round(max_epochs / 10))}
    if name == "successive-halving":
        # Hyperband's settings, its most aggressive bracket alone: rungs at steps 1, 3, 9, …
        # (after 2, 4, 10 epochs), each keeping the top third of the trials that reached it.
        return {"name": "successive-halving", "min_resource": 1, "reduction_factor": 3,
                "min_early_stopping_rate": 0}
    if name == "hyperband":
        return {"name": "hyperband", "min_resource": 1, "max_resource": "auto",
                "reduction_factor": 3}
    if name == "none":
        return {"name": "none"}
    raise UnknownPrunerError(f"unknown pruner {name!r}: choose one of {', '.join(PRUNERS)}")


def build_pruner(spec: Mapping[str, Any]) -> optuna.pruners.BasePruner:
    """The pruner a stored spec describes (see `pruner_spec`)."""
    name = spec.get("name")
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=spec["n_startup_trials"],
                                           n_warmup_steps=spec["n_warmup_steps"])
    if name == "successive-halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=spec["min_resource"], reduction_factor=spec["reduction_factor"],
            min_early_stopping_rate=spec["min_early_stopping_rate"])
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=spec["min_resource"],
                                              max_resource=spec["max_resource"],
                                              reduction_factor=spec["reduction_factor"])
    if name == "none":
        return optuna.pruners.NopPruner()
    raise UnknownPrunerError(f"unknown pruner {name!r}: choose one of {', '.join(PRUNERS)}")


def trial_seed(base_seed: int, trial_number: int) -> int:
    """The sampler seed of one trial (stored as its `sampler_seed` user attribute)."""
    return zlib.crc32(f"{base_seed}:{trial_number}".encode())


def _tpe(seed: int | None) -> TPESampler:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return TPESampler(seed=seed, multivariate=True, constant_liar=True)


class TrialSeededSampler(BaseSampler):
    """TPE with a fresh random stream for every trial, seeded by `trial_seed`."""

    def __init__(self, base_seed: int) -> None:
        self.base_seed = base_seed
        self._inner = _tpe(trial_seed(base_seed, -1))

    def before_trial(self, study, trial) -> None:  # type: ignore[no-untyped-def]
        # A new TPE per trial: its only state is the random stream (the history is the study's).
        self._inner = _tpe(trial_seed(self.base_seed, trial.number))
        self._inner.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):  # type: ignore[no-untyped-def]
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):  # type: ignore[no-untyped-def]
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):  # type: ignore
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values) -> None:  # type: ignore[no-untyped-def]
        self._inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._inner.reseed_rng()
