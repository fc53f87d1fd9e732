"""deploy/slurm/database.sbatch: the study's PostgreSQL as a job of the allocation.

The database job and the workers are started together; the workers wait for the published
address, the database is stopped in the middle of trials and started again on another port (a
requeue to another node looks the same to a worker: a new address in the same file), and the
workers ride it out within --storage-outage: the budget exact, nothing RUNNING, nothing lost.

Twice: the scripts as plain processes (the mechanics, no SLURM needed), and as SLURM jobs on the
one-node cluster, the database job requeued with `scontrol requeue`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.helpers import wait_for
from tests.postgres_cluster import find_pg_bin
from tests.slurm.conftest import DEPLOY
from tests.study.conftest import CLEARED, REPO
from tests.study.processes import assert_exact_budget, cleaned_up

BUDGET = 10
CREATE = ("--objective", "mock", "--n-trials", str(BUDGET), "--pruner", "none",
          "--replicate-seeds", "0")
WORKER = ("--per-device", "1", "--heartbeat-interval", "1", "--heartbeat-grace", "4")
OUTAGE_S = "120"
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


@pytest.fixture
def db_dir() -> Iterator[Path]:
    """The database's directory, outside pytest's private temp dirs: when the job runs as root,
    the server runs as `nobody`, which must reach it (as on a shared file system)."""
    if find_pg_bin() is None:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL server binaries not found (REQUIRE_POSTGRES=1)")
        pytest.skip("PostgreSQL server binaries not found")
    base = Path(tempfile.mkdtemp(prefix="recon-db-"))
    base.chmod(0o755)
    try:
        yield base / "db"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _env(tmp_path: Path, db_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    return {**env, "PATH": os.pathsep.join([str(Path(sys.executable).parent),
                                            env.get("PATH", os.defpath)]),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
            "STUDY_DB_DIR": str(db_dir), "STUDY_DB_ADDRESS": str(db_dir / "address"),
            "STUDY_CACHE_DIR": str(tmp_path / "cache"), "STUDY_MODEL_DIR": str(tmp_path / "models"),
            "STUDY_MOCK_DELAY": "3", "STUDY_STORAGE_OUTAGE": OUTAGE_S}


def _address(env: dict[str, str]) -> str:
    path = Path(env["STUDY_DB_ADDRESS"])
    return path.read_text().strip() if path.is_file() else ""


def _trials(env: dict[str, str]) -> list[optuna.trial.FrozenTrial]:
    url = _address(env)
    if not url:
        return []
    try:
        return optuna.load_study(study_name="recon-lambda", storage=url).get_trials()
    except Exception:  # noqa: BLE001 - the server is between stop and start
        return []


def _finished(env: dict[str, str]) -> int:
    return sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in _trials(env))


def _script(name: str, env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen:
    """A script as SLURM runs a batch job: its own process group, signalled as a whole."""
    log = open(cwd / f"{name}-{len(list(cwd.glob(f'{name}-*.log')))}.log", "w")  # noqa: SIM115
    return subprocess.Popen(["bash", str(DEPLOY / f"{name}.sbatch"), *args], env=env, cwd=cwd,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _check_study(env: dict[str, str]) -> None:
    trials = _trials(env)
    assert_exact_budget(trials, BUDGET)
    # Whatever the move cut off was failed and re-run: every failure has its retry.
    failed = [t.number for t in trials if t.state == TrialState.FAIL]
    retried = {t.system_attrs.get("failed_trial") for t in trials}
    assert set(failed) <= retried, (failed, retried)


@pytest.mark.slow
@pytest.mark.postgres
def test_workers_wait_for_the_database_script_and_ride_out_its_move(tmp_path: Path,
                                                                    db_dir: Path) -> None:
    env = _env(tmp_path, db_dir)
    workers = [_script("worker", {**env, "SLURM_ARRAY_TASK_ID": str(i)}, tmp_path, *WORKER)
               for i in range(2)]  # started first: they wait for the address
    database = _script("database", env, tmp_path, *CREATE)
    moved = None
    with cleaned_up(*workers, database):
        wait_for(lambda: _finished(env) >= 2, "two trials finished", timeout=240)
        first = _address(env)
        os.killpg(database.pid, signal.SIGTERM)  # as SLURM stops a job
        assert database.wait(timeout=60) == 0
        assert not _address(env)  # unpublished while it is down
        moved = _script("database", env, tmp_path, *CREATE)
        with cleaned_up(moved):
            wait_for(lambda: bool(_address(env)), "the new address", timeout=120)
            assert _address(env) != first  # another port: the workers must re-read it
            for worker in workers:
                assert worker.wait(timeout=300) == 0, _logs(tmp_path)
            _check_study(env)
            logs = _logs(tmp_path)
            assert "answers again" in logs and "Traceback" not in logs, logs
            os.killpg(moved.pid, signal.SIGTERM)
            assert moved.wait(timeout=60) == 0


def _logs(directory: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()}" for p in sorted(directory.glob("*.log"))
                     + sorted(directory.glob("*.out")))


@pytest.mark.slow
@pytest.mark.slurm
@pytest.mark.postgres
def test_database_job_and_worker_array_started_together_survive_a_requeue(
        slurm, tmp_path: Path, db_dir: Path) -> None:
    env = _env(tmp_path, db_dir)
    output = (f"--chdir={tmp_path}", f"--output={tmp_path}/%x-%j.out")
    # The node has 2 CPUs (SelectTypeParameters=CR_CPU): one for the database, one for the task.
    database = slurm.sbatch(*output, "--gres=none", "--cpus-per-task=1",
                            str(DEPLOY / "database.sbatch"), *CREATE, env=env)
    array = slurm.sbatch(f"--chdir={tmp_path}", f"--output={tmp_path}/worker-%A_%a.out",
                         "--array=0", "--gres=gpu:1", str(DEPLOY / "worker.sbatch"), *WORKER,
                         env=env)
    wait_for(lambda: _finished(env) >= 2, "two trials finished", timeout=300)
    first = _address(env)
    slurm.run("scontrol", "requeue", database)
    wait_for(lambda: slurm.job_state(database) == "PENDING", "the database job requeued")
    slurm.run("scontrol", "update", f"JobId={database}", "StartTime=now")
    wait_for(lambda: bool(_address(env)) and _address(env) != first, "the new address",
             timeout=240)
    wait_for(lambda: slurm.job_state(f"{array}_0") == "COMPLETED", "the worker task to complete",
             timeout=400)
    _check_study(env)
    logs = _logs(tmp_path)
    assert "restart 1" in logs and "answers again" in logs and "Traceback" not in logs, logs
    slurm.run("scancel", database)
    wait_for(lambda: not slurm.jobs(), "squeue empty", timeout=120)
