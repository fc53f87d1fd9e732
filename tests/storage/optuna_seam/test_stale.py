"""Contract test of `storage.optuna_seam.stale` (the heartbeat queries and the adoption of trials
that never beat) against the installed versions: an upgrade that changes what the project relies
on fails here first."""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from storage import optuna_seam as seam
from tests.storage.optuna_seam.studies import beating

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def test_heartbeat_queries_read_optunas_tables(tmp_path: Path) -> None:
    study = beating(f"sqlite:///{tmp_path / 's.db'}")
    trial = study.ask()
    assert seam.running_with_heartbeat(study) == 0  # asked by hand: no heartbeat yet
    seam.backend_of(study).record_heartbeat(trial._trial_id)
    assert seam.running_with_heartbeat(study) == 1
    assert seam.stale_trial_ids(study) == set()
    time.sleep(3.5)  # past the 2 s grace period, at SQLite's whole-second clock
    assert seam.stale_trial_ids(study) == {trial._trial_id}


def test_a_trial_that_never_beat_is_adopted_then_failed_and_retried(tmp_path: Path) -> None:
    """Its first heartbeat lost (the database stopped right after the insert, or the worker
    died): the sweep gives it one, so it goes stale after the grace period and is retried."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = beating(url)
    plain = optuna.storages.RDBStorage(url)  # inserts the trial, and no heartbeat
    orphan = plain.create_new_trial(study._study_id)
    assert seam.running_with_heartbeat(study) == 0
    assert seam.stale_trial_ids(study) == set()  # Optuna's query skips it: it would run forever
    assert seam.adopt_unbeaten(study) == [orphan]
    assert seam.running_with_heartbeat(study) == 1
    assert seam.adopt_unbeaten(study) == []  # adopted once: its heartbeat is not renewed
    time.sleep(3.5)
    seam.fail_stale(study)
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL, TrialState.WAITING]
    assert seam.is_retry_of(study.get_trials()[1], 0)
