"""`python -m study run` with the embedded defaults (SQLite in the working directory), and when
one of its worker processes dies."""

from __future__ import annotations

import json
import os
import re
import signal

import pytest
from optuna.trial import TrialState

from tests.helpers import wait_for
from tests.study.conftest import Cli, load
from tests.study.processes import (
    assert_exact_budget,
    assert_failures_retried,
    cleaned_up,
    in_training,
    pid_of,
    slot_of,
    start_group,
)

HEARTBEAT = ("--heartbeat-interval", "1", "--heartbeat-grace", "3")
NO_REPLICATES = ("--replicate-seeds", "0")


@pytest.mark.slow
def test_run_creates_works_and_summarizes(cli: Cli) -> None:
    proc = cli.run("run", "--objective", "mock", "--n-trials", "24", "--devices", "cpu",
                   "--per-device", "2")
    out = proc.stdout
    assert "24 finished search trials of a budget of 24" in out
    assert "best trial" in out and "test accuracy" in out
    assert out.startswith("Use: λ = ") and "λ effect:" in out, out
    assert "The arms (test accuracy" in out
    assert "importance    λ's rank" in out and "complete trials" in out
    assert "python -m study dashboard --storage sqlite:///studies.db" in out
    assert "python -m study.best export" in out
    # Progress lines (stderr is not a TTY): each phase, the last one to its end.
    assert "search: finished " in proc.stderr, proc.stderr
    assert re.search(r"replicates: finished (\d+)/\1,", proc.stderr), proc.stderr
    url = f"sqlite:///{cli.cwd / 'studies.db'}"
    study = load(url)
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials) == 24
    # run again: continues the same study up to a larger budget
    cli.run("run", "--n-trials", "30", "--devices", "cpu", "--per-device", "1")
    study = load(url)
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials) == 30
    exported = json.loads(cli.run("export", module="study.best").stdout)
    # The top level is the winner's own run (issue 25): its search trial, else a replicate run.
    use = exported["use"]
    if use["search_trial"] is not None:
        assert (exported["trial_of"], exported["trial"]) == ("recon-lambda", use["search_trial"])
    else:
        assert exported["trial_of"] == "recon-lambda-replicates" and exported["trial"] is not None


@pytest.mark.slow
def test_run_finishes_without_a_killed_worker_and_says_so(cli: Cli) -> None:
    """One of two workers killed by SIGKILL: the other re-runs its trial after the grace
    period; `run` prints the answer, warns about the lost worker and exits 0."""
    url, budget = f"sqlite:///{cli.cwd / 'studies.db'}", 6
    proc = start_group(cli, "run", "--objective", "mock", "--n-trials", str(budget), "--pruner",
                       "none", "--devices", "cpu", "--per-device", "2", *HEARTBEAT,
                       *NO_REPLICATES, env={"STUDY_MOCK_DELAY": "2"})
    with cleaned_up(proc):
        wait_for(lambda: len(in_training(url)) == 2 or proc.poll() is not None,
                 "two trials running", timeout=120)
        victim = in_training(url)[0]
        os.kill(pid_of(victim), signal.SIGKILL)
        out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert f"{budget} finished search trials of a budget of {budget}" in out, out
    assert "best trial" in out and "next " in out, out
    lost = [line for line in err.splitlines() if line.startswith("warning: lost worker")]
    assert len(lost) == 1 and f"{slot_of(victim)} (exit -9, killed)" in lost[0], err
    trials = load(url).trials
    assert_exact_budget(trials, budget)
    assert assert_failures_retried(trials) == [trials[victim.number]]


@pytest.mark.slow
def test_a_worker_launcher_that_lost_a_process_exits_0_when_the_others_finish(cli: Cli) -> None:
    """`worker` with two processes, one killed by SIGKILL mid-trial (as by the out-of-memory
    killer): the other re-runs its trial and finishes both phases; the launcher warns in one
    line and exits 0, the exit code a scheduler shows as success."""
    url, budget = f"sqlite:///{cli.cwd / 'studies.db'}", 6
    cli.run("create", "--storage", url, "--objective", "mock", "--n-trials", str(budget),
            "--pruner", "none", "--replicate-seeds", "2", "--max-seeds", "2")
    proc = start_group(cli, "worker", "--storage", url, "--devices", "cpu", "--per-device", "2",
                       *HEARTBEAT, env={"STUDY_MOCK_DELAY": "2"})
    with cleaned_up(proc):
        wait_for(lambda: len(in_training(url)) == 2 or proc.poll() is not None,
                 "two trials running", timeout=120)
        victim = in_training(url)[0]
        os.kill(pid_of(victim), signal.SIGKILL)
        _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    lost = [line for line in err.splitlines() if "lost worker processes" in line]
    assert len(lost) == 1 and lost[0].startswith("warning: "), err
    assert f"{slot_of(victim)} (exit -9, killed)" in lost[0], err
    assert not any(line.startswith("error:") for line in err.splitlines()), err
    trials = load(url).trials
    assert_exact_budget(trials, budget)
    assert assert_failures_retried(trials) == [trials[victim.number]]


@pytest.mark.slow
def test_a_worker_launcher_whose_processes_all_die_exits_1(cli: Cli) -> None:
    """Every process lost: the study is not finished, work was lost; one error line, exit 1."""
    url = f"sqlite:///{cli.cwd / 'studies.db'}"
    cli.run("create", "--storage", url, "--objective", "mock", "--n-trials", "6",
            *NO_REPLICATES)
    proc = start_group(cli, "worker", "--storage", url, "--devices", "cpu", "--per-device", "2",
                       env={"STUDY_MOCK_DELAY": "30"})
    with cleaned_up(proc):
        wait_for(lambda: len(in_training(url)) == 2 or proc.poll() is not None,
                 "two trials running", timeout=120)
        for trial in in_training(url):
            os.kill(pid_of(trial), signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: worker processes failed: ") and "not finished" in last, err
    assert "Traceback" not in err, err


@pytest.mark.slow
def test_run_exits_1_when_its_workers_die_before_the_study_is_done(cli: Cli) -> None:
    """Every worker killed: nobody finishes the study; the answer so far is still printed."""
    url = f"sqlite:///{cli.cwd / 'studies.db'}"
    proc = start_group(cli, "run", "--objective", "mock", "--n-trials", "6", "--devices", "cpu",
                       "--per-device", "2", *NO_REPLICATES, env={"STUDY_MOCK_DELAY": "30"})
    with cleaned_up(proc):
        wait_for(lambda: len(in_training(url)) == 2 or proc.poll() is not None,
                 "two trials running", timeout=120)
        for trial in in_training(url):
            os.kill(pid_of(trial), signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "0 finished search trials of a budget of 6" in out, out
    assert err.strip().splitlines()[-1].startswith("error: worker processes failed: "), err
    assert "the study is not finished" in err and "run again to continue" in err, err
