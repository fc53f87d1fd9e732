"""The sampler every worker of a study builds from the study's experiment.

TPE as Optuna 5 defaults it (multivariate, constant liar), seeded per TRIAL from the experiment's
seed and the trial's number: the parameters of trial n depend on the seed, n and the results known
when it is asked, never on which process or host asks. So one worker repeats a study exactly, and
parallel workers never share a random stream (workers sharing one seed would suggest alike).
"""

from __future__ import annotations

import warnings
import zlib

import optuna
from optuna.samplers import BaseSampler, TPESampler


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
