"""Preemption on a real one-node SLURM cluster: `scontrol requeue` of the worker task after a search
trial's first resume checkpoint, and again after a replicate run's; each retry resumes at the
checkpointed epoch, both phases finish with the budget exact, nothing RUNNING, squeue empty.

Real parts: deploy/slurm/worker.sbatch, slurmctld/slurmd, PostgreSQL, the real LSTM objective on
synthetic clips (a CPU node, `--gres=none`); the requeue is SLURM's own SIGTERM and restart.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from optuna.trial import FrozenTrial, TrialState

from tests.helpers import wait_for
from tests.hosts.checks import both_phases, retries_of
from tests.slurm.cluster import SlurmCluster, wait_gone
from tests.slurm.conftest import DEPLOY
from tests.study.conftest import Cli
from tests.study.test_resume_retry import saved_epochs

EPOCHS, EVERY = 6, 2  # resume checkpoints after epochs 2 and 4
HEARTBEAT = ("--heartbeat-interval", "1", "--heartbeat-grace", "4")
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def _requeue_after_checkpoint(slurm: SlurmCluster, task: str, directory: Path) -> tuple[Path,
                                                                                          list]:
    """Requeue `task` once a resume checkpoint appears in `directory`; (its path, its curve)
    as the stopped task left it."""
    found: list[Path] = []

    def saved() -> bool:
        found[:] = sorted(directory.glob("trial_*.ckpt")) if directory.is_dir() else []
        return bool(found)

    wait_for(saved, f"a resume checkpoint in {directory}", timeout=300)
    slurm.run("scontrol", "requeue", task)
    wait_for(lambda: slurm.job_state(task) == "PENDING", f"{task} requeued", timeout=60)
    # SLURM holds a requeued job back for about 2 minutes; the test does not wait for that.
    slurm.run("scontrol", "update", f"JobId={task}", "StartTime=now")
    return found[0], saved_epochs(found[0])


def _resumed(trials: list[FrozenTrial], checkpoint: Path, kept: list) -> FrozenTrial:
    """The retry of the trial whose checkpoint that was; it resumed where the checkpoint ended."""
    series = int(checkpoint.stem.split("_")[1])
    assert trials[series].state == TrialState.FAIL
    retries = retries_of(trials, series)
    assert len(retries) == 1, [(t.number, t.state) for t in trials]
    retry = retries[0]
    assert retry.state == TrialState.COMPLETE
    assert retry.user_attrs["resumed_at"] == len(kept) and retry.user_attrs["epochs"] == EPOCHS
    return retry


@pytest.mark.slow
@pytest.mark.slurm
@pytest.mark.postgres
def test_requeued_search_trial_and_replicate_resume_at_their_checkpoints(
        slurm: SlurmCluster, job_env: dict[str, str], tmp_path: Path,
        capsys: pytest.CaptureFixture) -> None:
    url = job_env["STUDY_STORAGE"]
    store = tmp_path / "shared_store"
    Cli(job_env, tmp_path).run(
        "create", "--storage", url, "--data", "synthetic:6", "--max-epochs", str(EPOCHS),
        "--pruner", "none", "--n-trials", "1", "--replicate-seeds", "1", "--max-seeds", "1",
        "--replicate-candidates", "1", "--artifacts", str(store), timeout=300)
    env = {**job_env, "STUDY_RESUME_EVERY": str(EVERY)}
    array = slurm.sbatch("--array=0", "--gres=none", f"--chdir={tmp_path}",
                         f"--output={tmp_path}/worker-%A_%a.out", str(DEPLOY / "worker.sbatch"),
                         "--per-device", "1", *HEARTBEAT, env=env)
    task = f"{array}_0"
    search_ckpt, search_kept = _requeue_after_checkpoint(
        slurm, task, store / "resume" / "recon-lambda")
    runs_ckpt, runs_kept = _requeue_after_checkpoint(
        slurm, task, store / "resume" / "recon-lambda-replicates")
    wait_gone(slurm, timeout=900)

    out = (tmp_path / f"worker-{array}_0.out").read_text()
    assert slurm.job_state(task) == "COMPLETED", out
    assert "restart 2" in out and "Traceback" not in out, out
    search, runs = both_phases(url, 1)
    searched = _resumed(search, search_ckpt, search_kept)
    replicated = _resumed(runs, runs_ckpt, runs_kept)
    # The search trial's curve: every epoch once, the restored ones as the checkpoint held them.
    assert sorted(searched.intermediate_values) == list(range(EPOCHS))
    assert [searched.intermediate_values[e] for e in range(len(search_kept))] == search_kept
    assert replicated.user_attrs["arm"] == runs[int(runs_ckpt.stem.split("_")[1])].user_attrs[
        "arm"]
    assert not list(store.glob("resume/*/*.ckpt"))  # each deleted when its trial finished
    assert slurm.jobs() == []
    saved = len(search_kept) + len(runs_kept)
    with capsys.disabled():  # the figure BENCHMARKS.md records, in CI's output too
        print(f"\nepochs saved by resuming: search {len(search_kept)} of {EPOCHS}, replicate "
              f"{len(runs_kept)} of {EPOCHS} ({saved} epochs); retry seconds: search "
              f"{searched.user_attrs['seconds']}, replicate {replicated.user_attrs['seconds']}",
              file=sys.stderr)
