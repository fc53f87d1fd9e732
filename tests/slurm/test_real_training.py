"""deploy/slurm/create.sbatch, then worker.sbatch with the real objective, on real recordings.

A few FSDD recordings (../shared/data/fsdd) stand for the data set. `create.sbatch` creates the
study and builds its feature cache; a worker task that depends on it trains real BiLSTM trials
inside a SLURM job on a CPU node (`--gres=none`). The task is given `--ntasks=2`, so SLURM_NTASKS
is 2 in its environment, as in many sites' job templates: that is what makes Lightning's
SLURMEnvironment take a job over (and refuse to train on one device), so the trials finishing
prove that a trial stays one process on one device inside a real job.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.helpers import wait_for
from tests.slurm.cluster import SlurmCluster, wait_gone
from tests.slurm.conftest import DEPLOY
from tests.study.conftest import REPO

FSDD = REPO.parent / "shared" / "data" / "fsdd" / "recordings"
DIGITS, PER_DIGIT = ("0", "1", "2"), 8  # 24 recordings: a val and a test clip per class
TRIALS = 2


def _recordings(target: Path) -> Path:
    if not FSDD.is_dir():
        pytest.skip(f"no FSDD recordings at {FSDD}")
    target.mkdir()
    for digit in DIGITS:
        for path in sorted(FSDD.glob(f"{digit}_*.wav"))[:PER_DIGIT]:
            shutil.copy(path, target / path.name)
    return target


@pytest.mark.slow
@pytest.mark.slurm
@pytest.mark.postgres
def test_the_sbatch_scripts_train_real_trials_inside_a_job(
        slurm: SlurmCluster, job_env: dict[str, str], tmp_path: Path) -> None:
    data = f"folder:{_recordings(tmp_path / 'fsdd')}"
    work = tmp_path / "job"
    work.mkdir()
    where = (f"--chdir={work}", f"--output={work}/%x-%A_%a.out")
    # The script as shipped, no resource flags: on this 2-CPU node it must start, not wait.
    create = slurm.sbatch(*where, str(DEPLOY / "create.sbatch"),
                          "--data", data, "--n-trials", str(TRIALS), "--max-epochs", "2",
                          "--pruner", "none", "--replicate-seeds", "0", env=job_env)
    wait_for(lambda: slurm.job_state(create) != "PENDING", "create.sbatch to start on a "
             "2-CPU node (a job asking more CPUs than the node has stays PENDING)", timeout=60)
    array = slurm.sbatch(*where, f"--dependency=afterok:{create}", "--array=0", "--gres=none",
                         "--ntasks=2", str(DEPLOY / "worker.sbatch"), "--per-device", "1",
                         env=job_env)
    wait_gone(slurm, timeout=300)

    logs = {path.name: path.read_text() for path in work.glob("*.out")}
    assert slurm.job_state(create) == "COMPLETED", logs
    assert slurm.job_state(f"{array}_0") == "COMPLETED", logs
    create_log = next(text for name, text in logs.items() if name.startswith(
        f"recon-study-create-{create}_"))
    assert "created study 'recon-lambda'" in create_log, create_log
    assert "built feature cache" in create_log and "; 0 failed)" in create_log, create_log
    key = create_log.partition("built feature cache ")[2].split()[0]
    worker_log = logs[f"recon-study-worker-{array}_0.out"]
    study = optuna.load_study(study_name="recon-lambda", storage=job_env["STUDY_STORAGE"])
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * TRIALS, worker_log
    for trial in trials:
        assert trial.user_attrs["epochs"] == 2 and trial.user_attrs["device"].startswith("cpu")
        assert trial.user_attrs["feature_cache_key"] == key  # the cache create.sbatch built
        assert trial.user_attrs["worker"].startswith(f"rlsnode-{array}_0:")
        assert Path(trial.user_attrs["model_path"]).is_file()
        assert 0.0 <= trial.value <= 1.0
    # Lightning's SLURM handling (hpc checkpoints, requeue) never ran in the job.
    assert not list(work.rglob("hpc_ckpt*")), sorted(work.rglob("*"))
    assert "srun" not in worker_log and "Traceback" not in worker_log, worker_log
