"""Stale trials retried exactly once.

Optuna's `fail_stale_trials` runs at the start of every trial of every worker, outside any lock.
On SQLite two workers can both fail the same stale trial (no row lock), and each then runs the
retry callback: two retries of one trial. The callback below re-queues under the study lock, and
only if no retry of that trial exists yet; `fail_stale` runs the whole sweep under that lock, so
no budget gate counts between a trial's FAIL and its retry. Optuna's retry history is
"experimental", and a trial's storage id private.
"""

from __future__ import annotations

import warnings

import optuna
from optuna.trial import FrozenTrial, TrialState

from storage.optuna_seam.ids import backend_of
from storage.optuna_seam.lock import study_lock
from storage.optuna_seam.stale import adopt_unbeaten, sweeping


def fail_stale(study: optuna.Study) -> None:
    """Fail the study's stale trials and re-queue each once, all under the study lock.

    Optuna sweeps before every ask of `optimize` too, but outside any lock: between its FAIL and
    its re-queue another worker's budget gate sees a free place and starts a new trial, and the
    retry, queued a moment later, waits beyond the budget for good. `ResilientRDBStorage` shows
    stale trials to this sweep only, and the gates run it under the lock they count under. A
    RUNNING trial that never beat is given a heartbeat first (`adopt_unbeaten`): it goes stale
    like any other.
    """
    with study_lock(study), sweeping(), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        adopt_unbeaten(study)
        optuna.storages.fail_stale_trials(study)


def is_retry_of(trial: FrozenTrial, original_number: int) -> bool:
    """`trial` re-runs `original_number` itself (the last of its retry history)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        history = optuna.storages.RetryHeartbeatStaleTrialCallback.retry_history(trial)
    return bool(history) and history[-1] == original_number


def retried_from(trial: FrozenTrial) -> int | None:
    """The number of the first failed trial of the series `trial` retries; None if no retry."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(trial)


class RetryStaleTrialOnce:
    """`RetryHeartbeatStaleTrialCallback` that never re-queues one failed trial twice."""

    def __init__(self, max_retry: int | None) -> None:
        self.max_retry = max_retry
        self._retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        with study_lock(study):
            trials = backend_of(study).get_all_trials(study._study_id, deepcopy=False)
            if not any(is_retry_of(other, trial.number) for other in trials):
                self._retry(study, trial)


def fail_and_requeue(study: optuna.Study, storage_id: int, *,
                     already_failed: bool = False) -> None:
    """Fail a RUNNING trial of this worker (stranded by a storage outage) and re-queue it once.

    `already_failed`: our own tell marked it FAIL, so only the re-queue is missing. A trial that
    finished meanwhile (another worker failed it as stale, and re-queued it) is left alone.
    """
    storage = backend_of(study)
    with study_lock(study):  # failed and re-queued in one step, as in `fail_stale`
        if storage.get_trial(storage_id).state == TrialState.RUNNING:
            try:
                if not storage.set_trial_state_values(storage_id, TrialState.FAIL):
                    return
            except optuna.exceptions.UpdateFinishedTrialError:
                return  # failed as stale by another worker just now, which re-queues it
        elif not already_failed:
            return
        trial = storage.get_trial(storage_id)
        callback = storage.get_heartbeat_stale_trial_callback()
        if trial.state == TrialState.FAIL and callback is not None:
            with warnings.catch_warnings():  # Optuna's retry history is "experimental"
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                callback(study, trial)


def fail_if_running(study: optuna.Study, storage_id: int) -> bool:
    """Mark a trial FAIL if it is still RUNNING; True if this call did."""
    storage = backend_of(study)
    if storage.get_trial(storage_id).state != TrialState.RUNNING:
        return False
    try:
        return bool(storage.set_trial_state_values(storage_id, TrialState.FAIL))
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
