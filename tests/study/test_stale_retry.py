"""A stale trial is retried exactly once, even when two workers find it stale at the same moment.

The race: every worker of a study killed mid-trial, their trials holding the rest of the budget,
then two workers restarted together. Both wait for the stale trials in the budget's gate; here
they queue up behind the study lock (held by the test, as by a busy worker), which lines their
polls up, so both look for stale trials at the same moment. On SQLite both can fail the same
trial (its state is read outside the write) and each re-queued it with Optuna's
`RetryHeartbeatStaleTrialCallback`: two retries with identical parameters, one budget place
wasted. And a retry queued only after another worker's gate saw the failed trial's place free
was never run (it failed CI once: 4 COMPLETE, 1 retry WAITING). Timing decides, so the scenario
is repeated.
"""

from __future__ import annotations

import signal
import subprocess
import time

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from storage import study_lock
from tests.helpers import wait_for
from tests.study.conftest import Cli, load
from tests.study.processes import (
    assert_exact_budget,
    assert_failures_retried,
    finish,
    in_training,
    retried_from,
)

GRACE_S = 8  # longer than a worker takes to start: the new workers are waiting when it ends
HEARTBEAT = ("--heartbeat-interval", "1", "--heartbeat-grace", str(GRACE_S))
KILLED = 4  # trials left stale: a worker fails them one by one, so another soon overlaps
BUDGET = KILLED  # the killed trials hold all of it
ROUNDS = 3  # about 25 s each; the fixed races showed within the first rounds


def _workers(cli: Cli, url: str, n: int, delay: str) -> list[subprocess.Popen]:
    return [cli.popen("worker", "--storage", url, "--devices", "cpu", "--per-device", "1",
                      "--quiet", *HEARTBEAT, env={"STUDY_MOCK_DELAY": delay}) for _ in range(n)]


def _kill_all_then_restart_two(cli: Cli, url: str, objective: str) -> tuple[list, list]:
    """(the study's trials, the trials left stale) after one round of the scenario."""
    cli.run("create", "--storage", url, "--objective", objective, "--pruner", "none",
            "--n-trials", str(BUDGET))
    first = _workers(cli, url, KILLED, "8")
    try:
        wait_for(lambda: len(in_training(url)) == KILLED, "a trial of every worker running",
                 timeout=90)
    finally:
        for worker in first:
            worker.send_signal(signal.SIGKILL)
            worker.communicate(timeout=10)
    study = load(url)
    stale = [t for t in study.trials if t.state == TrialState.RUNNING]
    with study_lock(study):
        second = _workers(cli, url, 2, "1")
        time.sleep(GRACE_S + 1)
    errors = finish(second)
    assert [w.returncode for w in second] == [0, 0], errors
    return load(url).trials, stale


def _retries(trials: list[FrozenTrial], original: FrozenTrial) -> list[int]:
    return [t.number for t in trials if retried_from(t) == original.number]


@pytest.mark.slow
def test_two_restarted_workers_retry_each_stale_trial_once(cli: Cli) -> None:
    for round_ in range(ROUNDS):
        url = f"sqlite:///{cli.cwd / f'round{round_}.db'}"
        trials, stale = _kill_all_then_restart_two(cli, url, "mock")
        assert len(stale) == KILLED
        table = [(t.number, t.state.name, retried_from(t)) for t in trials]
        assert [len(_retries(trials, t)) for t in stale] == [1] * KILLED, (round_, table)
        assert_exact_budget(trials, BUDGET)
        assert_failures_retried(trials)


def test_a_trial_whose_first_heartbeat_was_lost_is_retried_within_the_budget(cli: Cli) -> None:
    """A trial inserted without a heartbeat: the database stopped between the insert and the
    first beat, or the insert's answer never reached the worker (CI saw it: a database job moved
    at that moment left 9 COMPLETE, 1 FAIL and a RUNNING trial that no worker owned or could
    fail, holding the tenth place). The workers fail it after the grace period and run its retry.
    """
    url = f"sqlite:///{cli.cwd / 'lost_beat.db'}"
    budget = 3
    cli.run("create", "--storage", url, "--objective", "mock", "--pruner", "none",
            "--n-trials", str(budget))
    study = load(url)
    optuna.storages.RDBStorage(url).create_new_trial(study._study_id)  # no heartbeat
    cli.run("worker", "--storage", url, "--devices", "cpu", "--per-device", "1", "--quiet",
            "--heartbeat-interval", "1", "--heartbeat-grace", "2")
    trials = load(url).trials
    assert_exact_budget(trials, budget)
    orphan = next(t for t in trials if t.number == 1)  # the baseline is trial 0
    assert orphan.state == TrialState.FAIL
    assert [t.number for t in trials if retried_from(t) == orphan.number], trials
