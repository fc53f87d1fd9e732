"""Contract test of `storage.optuna_seam.resilient` (the storage whose stale trials only the locked sweep sees) against the installed
versions: an upgrade that changes what the project relies on fails here first."""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from storage import optuna_seam as seam
from tests.storage.optuna_seam.studies import beating

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def test_behind_a_gate_only_the_locked_sweep_fails_stale_trials(tmp_path: Path) -> None:
    """Optuna's own sweep before each ask (unlocked) finds nothing behind a gate; `fail_stale`
    fails the stale trial and queues its retry in one step under the re-entrant study lock."""
    study = beating(f"sqlite:///{tmp_path / 's.db'}")
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    seam.backend_of(study).record_heartbeat(trial._trial_id)
    gated = seam.GatedStudy(study, lambda gated, ask: ask())
    time.sleep(3.5)  # past the 2 s grace period, at SQLite's whole-second clock
    optuna.storages.fail_stale_trials(gated)  # what `optimize` runs before each ask
    assert [t.state for t in study.get_trials()] == [TrialState.RUNNING]
    assert seam.stale_trial_ids(gated) == {trial._trial_id}  # status still sees it
    with seam.study_lock(gated):  # held, as by a gate that counts: the sweep re-enters it
        seam.fail_stale(gated)
        assert [t.state for t in study.get_trials()] == [TrialState.FAIL, TrialState.WAITING]
    assert seam.is_retry_of(study.get_trials()[1], trial.number)
