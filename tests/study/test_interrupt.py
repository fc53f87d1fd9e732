"""Ctrl-C (SIGINT) / SIGTERM stop workers within seconds and leave no trial RUNNING: a worker
alone, the launcher's children, real Lightning training under `run`, and the replicate phase."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.helpers import wait_for
from tests.study.conftest import CLEARED, REPO, Cli, load
from tests.study.processes import (
    alive,
    assert_exact_budget,
    cleaned_up,
    in_training,
    pid_of,
    retried_from,
    start_group,
    trials_of,
)

DATA = "synthetic:8"  # 64 clips: an epoch of the quick profile takes a fraction of a second
TWO_PROCESSES = ("--devices", "cpu", "--per-device", "2")
NO_REPLICATES = ("--replicate-seeds", "0")
# README: a signal stops a worker "within seconds". Every interrupted piece of work here would
# take longer than this bound (a 60 s mock trial, 200 epochs, a 120 s replicate); the margin is
# for a loaded 2-core CI machine (21.7 s measured there beside three other test workers).
STOPPED_WITHIN_S = 45
SIGNALS = pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM],
                                  ids=["SIGINT", "SIGTERM"])


@pytest.mark.slow
@SIGNALS
@pytest.mark.parametrize("per_device", ["1", "2"])  # in-process worker; launcher with children
def test_signal_fails_running_trials(cli: Cli, per_device: str, signum: signal.Signals) -> None:
    url = f"sqlite:///{cli.cwd / 'studies.db'}"
    cli.run("create", "--storage", url, "--objective", "mock")
    proc = cli.popen("worker", "--storage", url, "--n-trials", "50", "--devices", "cpu",
                     "--per-device", per_device, "--quiet", env={"STUDY_MOCK_DELAY": "60"})
    wait_for(lambda: sum(t.state == TrialState.RUNNING for t in load(url).trials)
             >= int(per_device), f"{per_device} trials to run at once")
    status = json.loads(cli.run("status", "--storage", url, "--format", "json").stdout)
    assert status["workers_alive"] == int(per_device) and status["stale_running_trials"] == 0
    started = time.monotonic()
    proc.send_signal(signum)  # SIGINT: what Ctrl-C sends
    _, err = proc.communicate(timeout=120)
    assert time.monotonic() - started < STOPPED_WITHIN_S, err
    assert proc.returncode == 130, err
    trials = load(url).trials
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert sum(t.state == TrialState.FAIL for t in trials) == int(per_device)


@pytest.fixture(scope="module")
def feature_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The features of DATA, built once for every test here."""
    cache = tmp_path_factory.mktemp("features")
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    subprocess.run([sys.executable, "-m", "objectives.prepare", "--data", DATA, "--profile",
                    "quick", "--cache-dir", str(cache)], env=env, cwd=cache, check=True,
                   capture_output=True, timeout=300)
    return cache


def _interrupt(proc: subprocess.Popen, signum: int, pids: set[int]) -> tuple[float, str]:
    """Signal the process group (as a terminal does); seconds until every process is gone."""
    os.killpg(proc.pid, signum)
    started = time.monotonic()
    wait_for(lambda: proc.poll() is not None and not any(alive(pid) for pid in pids),
             "the command and its worker processes to exit", timeout=120)
    elapsed = time.monotonic() - started
    return elapsed, proc.communicate()[1]


@pytest.mark.slow
@SIGNALS
def test_signal_to_run_stops_real_training_and_fails_its_trials(
        cli: Cli, feature_cache: Path, signum: signal.Signals) -> None:
    """Lightning handles the interrupt inside `trainer.fit` and calls sys.exit: the trials must
    still end FAIL, not stay RUNNING until a later worker's grace period expires."""
    url = f"sqlite:///{cli.cwd / 'studies.db'}"
    proc = start_group(cli, "run", "--data", DATA, "--n-trials", "4", "--max-epochs", "200",
                       "--pruner", "none", *TWO_PROCESSES, *NO_REPLICATES,
                       # No resume checkpoints: a trial that saved one is queued again too
                       # (tests/study/test_resume_retry.py), which would make the queue below
                       # depend on how far the second trial got before the signal.
                       env={"STUDY_CACHE_DIR": str(feature_cache), "STUDY_RESUME_EVERY": "0"})
    with cleaned_up(proc):
        wait_for(lambda: len(in_training(url)) == 2 or proc.poll() is not None,
                 "two trials in training", timeout=180)
        training = in_training(url)
        assert len(training) == 2, proc.communicate()[1]
        elapsed, err = _interrupt(proc, signum, {pid_of(t) for t in training})
    assert proc.returncode == 130, err
    assert elapsed < STOPPED_WITHIN_S, err
    trials = load(url).trials
    assert [t.number for t in trials if t.state == TrialState.RUNNING] == [], err
    assert [trials[t.number].state for t in training] == [TrialState.FAIL] * 2, err
    # The λ = 0 baseline (trial 0) was one of them: re-queued, so the next run starts with it.
    waiting = [(t.number, retried_from(t)) for t in trials if t.state == TrialState.WAITING]
    assert waiting == [(len(trials) - 1, 0)], waiting
    assert "Traceback" not in err, err


@pytest.mark.slow
def test_ctrl_c_during_replicates_leaves_nothing_running_and_loses_no_replicate(cli: Cli) -> None:
    url = f"sqlite:///{cli.cwd / 'studies.db'}"
    companion = "recon-lambda-replicates"
    proc = start_group(cli, "run", "--objective", "tests.study.slow_objectives:SlowReplicates",
                       "--n-trials", "3", "--replicate-seeds", "2", *TWO_PROCESSES,
                       env={"STUDY_MOCK_DELAY": "120"})  # replicates only: see SlowReplicates
    with cleaned_up(proc):
        def running() -> list:
            return [t for t in trials_of(url, companion) if t.state == TrialState.RUNNING]

        wait_for(lambda: len(running()) == 2 or proc.poll() is not None,
                 "two replicates running", timeout=120)
        cut = running()
        assert len(cut) == 2, proc.communicate()[1]
        elapsed, err = _interrupt(proc, signal.SIGINT, {pid_of(t) for t in cut})
    assert proc.returncode == 130, err
    assert elapsed < STOPPED_WITHIN_S, err
    replicates = load(url, companion).trials
    assert [t.number for t in replicates if t.state == TrialState.RUNNING] == [], err
    assert [replicates[t.number].state for t in cut] == [TrialState.FAIL] * 2, err
    assert [t.state for t in load(url).trials if t.state == TrialState.RUNNING] == []
    # A later run finishes the phase: the interrupted replicates were planned slots, not lost.
    again = cli.run("run", *TWO_PROCESSES, env={"STUDY_MOCK_DELAY": "0"}, timeout=180)
    planned = int(load(url, companion).user_attrs["n_planned"])
    assert f"{planned}/{planned} runs finished" in again.stdout, again.stdout + again.stderr
    assert_exact_budget(load(url, companion).trials, planned)
