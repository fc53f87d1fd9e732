"""Contract test of `storage.optuna_seam.stale` (the heartbeat queries) against the installed
versions: an upgrade that changes what the project relies on fails here first."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

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
