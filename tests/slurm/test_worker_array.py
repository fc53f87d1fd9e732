"""deploy/slurm/worker.sbatch on a real one-node SLURM cluster, with the mocked objective.

An array of 2 tasks (one fake GPU each) serves a study on a throwaway PostgreSQL. In the middle
of trials: one task is `scancel`ed (SIGTERM: it hands its trial back at once and exits), a third
task is killed outright (SIGKILL: its trial goes stale and is retried once by another task), and
the first task is requeued (SIGTERM, then SLURM starts it again and it rejoins). Both phases
must finish with the budget exact, nothing RUNNING, and squeue empty.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from optuna.trial import FrozenTrial, TrialState

from tests.helpers import wait_for
from tests.hosts.checks import both_phases, pid_of, retries_of, worker_of
from tests.slurm.cluster import NODE, SlurmCluster, wait_gone
from tests.slurm.conftest import DEPLOY
from tests.study.conftest import Cli
from tests.study.processes import trials_of

BUDGET, SEEDS = 12, 2
HEARTBEAT = ("--heartbeat-interval", "1", "--heartbeat-grace", "4")
MOCK_DELAY = "3"  # seconds per trial: long enough to act in the middle of one
HANDED_BACK = "interrupted; its running trial was marked FAIL"
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def task_id(array: str, task: int) -> str:
    """The STUDY_WORKER_ID worker.sbatch gives array task `task` of job `array`."""
    return f"{NODE}-{array}_{task}"


def mid_trial(url: str, worker: str) -> FrozenTrial:
    """Wait until `worker` is inside a search trial (an epoch reported); that trial."""
    found: list[FrozenTrial] = []

    def inside() -> bool:
        found[:] = [t for t in trials_of(url) if t.state == TrialState.RUNNING
                    and worker_of(t) == worker and t.intermediate_values]
        return bool(found)

    wait_for(inside, f"task {worker} to be in the middle of a trial", timeout=120)
    return found[0]


def submit(slurm: SlurmCluster, tmp_path: Path, env: dict[str, str], array: str) -> str:
    return slurm.sbatch(f"--array={array}", f"--chdir={tmp_path}",
                        f"--output={tmp_path}/worker-%A_%a.out", str(DEPLOY / "worker.sbatch"),
                        *HEARTBEAT, env=env)


@pytest.mark.slow
@pytest.mark.slurm
@pytest.mark.postgres
def test_a_worker_array_survives_scancel_a_kill_and_a_requeue(
        slurm: SlurmCluster, job_env: dict[str, str], tmp_path: Path) -> None:
    url = job_env["STUDY_STORAGE"]
    Cli(job_env, tmp_path).run("create", "--storage", url, "--objective", "mock", "--pruner", "none",
            "--n-trials", str(BUDGET), "--replicate-seeds", str(SEEDS), "--max-seeds", str(SEEDS))
    env = {**job_env, "STUDY_MOCK_DELAY": MOCK_DELAY}
    array = submit(slurm, tmp_path, env, "0-1")
    log = {task: tmp_path / f"worker-{array}_{task}.out" for task in (0, 1)}

    # scancel: SIGTERM in the middle of a trial; the task hands it back and ends.
    cancelled = mid_trial(url, task_id(array, 1))
    slurm.run("scancel", f"{array}_1")
    wait_for(lambda: slurm.job_state(f"{array}_1") == "CANCELLED", "task 1 cancelled")
    wait_for(lambda: HANDED_BACK in log[1].read_text(), "task 1 to hand its trial back",
             timeout=30)

    # Killed outright, as by the out-of-memory killer: a third task (on the GPU task 1 freed)
    # gets SIGKILL mid-trial. (`scancel --signal=KILL` is an ordinary cancel: SIGTERM first.)
    extra = submit(slurm, tmp_path, env, "2")
    killed = mid_trial(url, task_id(extra, 2))
    os.kill(pid_of(killed), signal.SIGKILL)
    wait_for(lambda: slurm.job_state(f"{extra}_2") == "FAILED", "the killed task to end")

    # Requeued (preemption): SIGTERM, back to the queue, started again with the same task id.
    requeued = mid_trial(url, task_id(array, 0))
    slurm.run("scontrol", "requeue", f"{array}_0")
    wait_for(lambda: slurm.job_state(f"{array}_0") == "PENDING", "task 0 requeued")
    # SLURM holds a requeued job back for about 2 minutes; the test does not wait for that.
    slurm.run("scontrol", "update", f"JobId={array}_0", "StartTime=now")

    wait_gone(slurm, timeout=240)
    search, runs = both_phases(url, BUDGET)
    out0, out1 = log[0].read_text(), log[1].read_text()
    assert slurm.job_state(f"{array}_0") == "COMPLETED", out0
    # Task 1 stopped its own trial at once (a sampled trial is handed back, not retried).
    assert search[cancelled.number].state == TrialState.FAIL
    assert HANDED_BACK in out1 and "Traceback" not in out1, out1
    # The killed task's trial was failed as stale and re-run once by another task.
    retries = retries_of(search, killed.number)
    assert search[killed.number].state == TrialState.FAIL
    assert len(retries) == 1 and worker_of(retries[0]) != task_id(extra, 2), retries
    # Task 0 handed its trial back when requeued, then started again and served the study.
    assert search[requeued.number].state == TrialState.FAIL
    assert out0.count(f"worker {task_id(array, 0)} start") == 2, out0
    assert "restart 1" in out0 and HANDED_BACK in out0, out0
    later = [t for t in (*search, *runs) if worker_of(t) == task_id(array, 0)
             and t.datetime_start > search[requeued.number].datetime_complete]
    assert later, "the requeued task ran no trial after it started again"
    # Every other failure is a trial one of these three interruptions cut off.
    cut = {cancelled.number, killed.number, requeued.number}
    others = [t.number for t in search if t.state == TrialState.FAIL and t.number not in cut]
    assert all(retries_of(search, n) for n in others), others
    assert slurm.jobs() == []


@pytest.mark.slow
@pytest.mark.slurm
@pytest.mark.postgres
def test_a_task_that_loses_one_of_its_processes_completes(
        slurm: SlurmCluster, job_env: dict[str, str], tmp_path: Path) -> None:
    """One task on a CPU node with two trial processes (`--gres=none --per-device 2`); one is
    killed with SIGKILL mid-trial, as by the out-of-memory killer. The other re-runs its trial
    and finishes both phases: the task exits 0 and SLURM shows it COMPLETED, not FAILED."""
    url, budget = job_env["STUDY_STORAGE"], 6
    Cli(job_env, tmp_path).run("create", "--storage", url, "--objective", "mock", "--pruner",
                               "none", "--n-trials", str(budget), "--replicate-seeds", "2",
                               "--max-seeds", "2")
    env = {**job_env, "STUDY_MOCK_DELAY": "2"}
    job = slurm.sbatch("--array=0", "--gres=none", f"--chdir={tmp_path}",
                       f"--output={tmp_path}/worker-%A_%a.out", str(DEPLOY / "worker.sbatch"),
                       "--per-device", "2", *HEARTBEAT, env=env)
    killed = mid_trial(url, task_id(job, 0))
    os.kill(pid_of(killed), signal.SIGKILL)
    wait_gone(slurm, timeout=240)
    out = (tmp_path / f"worker-{job}_0.out").read_text()
    assert slurm.job_state(f"{job}_0") == "COMPLETED", out
    assert "warning: lost worker processes cpu." in out and "(exit -9, killed)" in out, out
    search, _ = both_phases(url, budget)
    retries = retries_of(search, killed.number)
    assert search[killed.number].state == TrialState.FAIL and len(retries) == 1, out
