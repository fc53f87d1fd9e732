"""The gate both phases ask through: it starts a trial when the phase says so, waits while
RUNNING trials may still free a place, and ends the phase when told or past the deadline."""

from __future__ import annotations

import time

import optuna
import pytest

from storage import open_storage
from study.gate import PhaseDone, gated


def _study(tmp_path) -> optuna.Study:
    storage = open_storage(f"sqlite:///{tmp_path / 'g.db'}", heartbeat_interval=1,
                           grace_period=3)
    return optuna.create_study(storage=storage, study_name="g")


def test_a_trial_starts_only_when_the_phase_says_so(tmp_path):
    study = _study(tmp_path)
    answers = iter([True, False])
    gate = gated(study, lambda s: next(answers), deadline=None, heartbeat_interval=None)
    assert gate.ask().number == 0
    # No beating trial to wait for and no heartbeat: nothing can free a place, the phase ends.
    with pytest.raises(PhaseDone):
        gate.ask()


def test_the_phase_ends_when_it_says_so(tmp_path):
    def done(study):
        raise PhaseDone

    with pytest.raises(PhaseDone):
        gated(_study(tmp_path), done, deadline=None, heartbeat_interval=1).ask()


def test_a_waiting_worker_stops_at_its_deadline(tmp_path):
    study = _study(tmp_path)
    study.ask()  # RUNNING, with a heartbeat: worth waiting for
    started = time.monotonic()
    gate = gated(study, lambda s: False, deadline=time.monotonic() + 1.5, heartbeat_interval=1)
    with pytest.raises(PhaseDone):
        gate.ask()
    assert time.monotonic() - started < 10
