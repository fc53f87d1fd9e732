"""Contract test of `storage.optuna_seam.tell` (what a failed tell raises) against the installed
versions: an upgrade that changes what the project relies on fails here first."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import sqlalchemy.exc
from optuna.trial import TrialState

from storage import optuna_seam as seam
from tests.storage.optuna_seam.studies import make_study

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def test_tell_of_a_finished_trial_is_refused_with_the_known_message() -> None:
    study = optuna.create_study()
    trial = study.ask()
    study.tell(trial, state=TrialState.FAIL)
    with pytest.raises(ValueError) as refused:
        study.tell(trial, 1.0)
    assert seam.tell_was_refused(refused.value)
    assert not seam.tell_was_refused(ValueError("something else"))


def test_the_storage_error_behind_optunas_failed_tell_is_found(tmp_path: Path) -> None:
    study = make_study(f"sqlite:///{tmp_path / 's.db'}", heartbeat_interval=None)
    backend = seam.backend_of(study)
    lost = sqlalchemy.exc.OperationalError("UPDATE", {}, Exception("server closed the connection"))

    def fail(*args, **kwargs):
        raise lost

    backend.set_trial_state_values = fail  # the database goes away while the trial is told
    backend.get_trial = fail
    with pytest.raises(Exception) as raised:
        study.optimize(lambda t: 1.0, n_trials=1)
    assert seam.error_behind(raised.value) is lost


def test_the_storage_error_behind_a_tell_that_failed_just_before_the_database_came_back(
        tmp_path: Path) -> None:
    # The failover case: the tell meets the old server, the read after it the new one.
    study = make_study(f"sqlite:///{tmp_path / 's.db'}", heartbeat_interval=None)
    backend = seam.backend_of(study)
    lost = sqlalchemy.exc.OperationalError("UPDATE", {}, Exception("server closed the connection"))

    def fail(*args, **kwargs):
        raise lost

    backend.set_trial_state_values = fail  # the trial stays RUNNING; get_trial still answers
    with pytest.raises(Exception) as raised:
        study.optimize(lambda t: 1.0, n_trials=1)
    assert seam.error_behind(raised.value) is lost
    assert seam.error_behind(AssertionError("x")).args == ("x",)
