"""Heartbeats + RetryHeartbeatStaleTrialCallback: a dead worker's trial is failed and retried."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest

from storage import open_storage

pytestmark = [
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
    # ask() with heartbeats on is how we fake a worker that stopped beating.
    pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed:UserWarning"),
]
Retry = optuna.storages.RetryHeartbeatStaleTrialCallback
# SQLite's CURRENT_TIMESTAMP has one-second resolution: wait a whole second past the grace.
GRACE_S = 2
PAST_GRACE_S = GRACE_S + 1.5


def test_stale_trial_is_failed_and_requeued(storage_url: str) -> None:
    storage = open_storage(storage_url, heartbeat_interval=1, grace_period=GRACE_S, max_retry=2)
    study = optuna.create_study(study_name="hb", storage=storage, direction="maximize")
    trial = study.ask()
    x = trial.suggest_float("x", 0.0, 1.0)
    trial.set_user_attr("note", "kept")
    storage.record_heartbeat(trial._trial_id)  # then the "worker" goes silent

    optuna.storages.fail_stale_trials(study)  # still within the grace period: nothing happens
    assert study.trials[0].state == optuna.trial.TrialState.RUNNING

    time.sleep(PAST_GRACE_S)
    optuna.storages.fail_stale_trials(study)
    original, retry = study.get_trials(deepcopy=False)
    assert original.state == optuna.trial.TrialState.FAIL
    assert retry.state == optuna.trial.TrialState.WAITING
    assert retry.params == {"x": x}
    assert retry.user_attrs == {"note": "kept"}
    assert Retry.retried_trial_number(retry) == original.number == 0
    assert Retry.retry_history(retry) == [0]

    # The next worker picks the re-queued trial up first, with the same parameters.
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=1)
    done = study.trials[1]
    assert done.state == optuna.trial.TrialState.COMPLETE
    assert done.value == x


def test_max_retry_zero_fails_without_requeue(tmp_path: Path) -> None:
    storage = open_storage(
        f"sqlite:///{tmp_path / 's.db'}", heartbeat_interval=1, grace_period=GRACE_S, max_retry=0
    )
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    storage.record_heartbeat(trial._trial_id)
    time.sleep(PAST_GRACE_S)
    optuna.storages.fail_stale_trials(study)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL]


_WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import optuna
    from storage import open_storage

    url, marker, grace = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    storage = open_storage(url, heartbeat_interval=1, grace_period=grace)
    study = optuna.load_study(study_name="killed", storage=storage)

    def objective(trial):
        trial.suggest_float("x", 0.0, 1.0)
        marker.write_text(str(trial.number))
        time.sleep(120)  # killed long before this ends
        return 0.0

    study.optimize(objective, n_trials=1)
    """
)


@pytest.mark.slow
def test_killed_worker_trial_is_retried_by_next_worker(storage_url: str, tmp_path: Path) -> None:
    storage = open_storage(storage_url, heartbeat_interval=1, grace_period=GRACE_S)
    study = optuna.create_study(study_name="killed", storage=storage, direction="maximize")
    script, marker = tmp_path / "worker.py", tmp_path / "started"
    script.write_text(_WORKER)
    worker = subprocess.Popen([sys.executable, str(script), storage_url, str(marker), str(GRACE_S)])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert worker.poll() is None, "worker exited before starting its trial"
            assert time.monotonic() < deadline, "worker never started its trial"
            time.sleep(0.1)
        time.sleep(1.5)  # let the heartbeat thread beat at least once
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    assert study.trials[0].state == optuna.trial.TrialState.RUNNING
    time.sleep(PAST_GRACE_S)

    # A new worker fails the stale trial on its first step and runs the retry.
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=1)
    first, second = study.trials
    assert first.state == optuna.trial.TrialState.FAIL
    assert second.state == optuna.trial.TrialState.COMPLETE
    assert second.params == first.params
    assert Retry.retried_trial_number(second) == 0
