"""Contract test of `storage.optuna_seam.retry` (stale trials retried exactly once) against the installed
versions: an upgrade that changes what the project relies on fails here first."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from storage import optuna_seam as seam
from tests.storage.optuna_seam.studies import beating

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def test_a_stale_trial_is_retried_once_however_often_it_is_failed(tmp_path: Path) -> None:
    study = beating(f"sqlite:///{tmp_path / 's.db'}")
    study.enqueue_trial({"x": 0.5}, user_attrs={"arm": "best"})
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    backend = seam.backend_of(study)
    backend.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    failed = backend.get_trial(trial._trial_id)
    retry = seam.RetryStaleTrialOnce(max_retry=3)
    retry(study, failed)
    retry(study, failed)  # a second worker that failed the same trial at the same moment
    retries = [t for t in study.get_trials() if seam.is_retry_of(t, trial.number)]
    assert len(retries) == 1
    assert retries[0].state == TrialState.WAITING
    assert retries[0].params == {"x": 0.5} and retries[0].user_attrs["arm"] == "best"


def test_fail_and_requeue_and_fail_if_running(tmp_path: Path) -> None:
    study = beating(f"sqlite:///{tmp_path / 's.db'}")
    assert isinstance(seam.backend_of(study).get_heartbeat_stale_trial_callback(),
                      optuna.storages.RetryHeartbeatStaleTrialCallback | seam.RetryStaleTrialOnce)
    first, second = study.ask(), study.ask()
    seam.fail_and_requeue(study, first._trial_id)
    seam.fail_and_requeue(study, first._trial_id)  # finished now: left alone
    states = [t.state for t in study.get_trials()]
    assert states[:2] == [TrialState.FAIL, TrialState.RUNNING]
    assert sum(seam.is_retry_of(t, first.number) for t in study.get_trials()) == 1
    assert seam.fail_if_running(study, second._trial_id)
    assert not seam.fail_if_running(study, second._trial_id)
