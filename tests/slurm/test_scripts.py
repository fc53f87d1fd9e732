"""The sbatch scripts as plain bash, outside SLURM: what they run, and what they refuse.

A stand-in `recon-study` on PATH prints the arguments it is called with, so these run in
milliseconds; the SLURM tests run the same scripts inside real jobs.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.slurm.conftest import DEPLOY

SCRIPTS = ("worker.sbatch", "create.sbatch")


def _run(script: str, *args: str, tmp_path: Path, storage: str | None = "postgresql://x@db/o",
         **env: str) -> subprocess.CompletedProcess:
    stub = tmp_path / "bin" / "recon-study"
    stub.parent.mkdir(exist_ok=True)
    stub.write_text('#!/bin/sh\necho "recon-study $*"\necho "worker id ${STUDY_WORKER_ID:-}"\n')
    stub.chmod(0o755)
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("SLURM_", "STUDY_", "OPTUNA_"))}
    base["PATH"] = f"{stub.parent}{os.pathsep}{base.get('PATH', os.defpath)}"
    if storage is not None:
        base["STUDY_STORAGE"] = storage
    return subprocess.run(["bash", str(DEPLOY / script), *args], env={**base, **env},
                          capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_script_without_a_storage_is_one_error_line(script: str, tmp_path: Path) -> None:
    done = _run(script, tmp_path=tmp_path, storage=None)
    assert done.returncode == 1 and done.stdout == "", done
    assert done.stderr.strip().splitlines()[-1].startswith("error: STUDY_STORAGE is not set")


def test_the_worker_runs_on_the_tasks_gpus_named_after_its_task(tmp_path: Path) -> None:
    done = _run("worker.sbatch", "--per-device", "2", tmp_path=tmp_path, SLURM_JOB_ID="7",
                SLURM_ARRAY_JOB_ID="5", SLURM_ARRAY_TASK_ID="3", SLURMD_NODENAME="gpu01",
                CUDA_VISIBLE_DEVICES="1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["recon-study worker --devices auto --per-device 2",
                                        "worker id gpu01-5_3"]
    assert "worker gpu01-5_3 start" in done.stderr and "gpus 1" in done.stderr


def test_create_passes_the_data_flags_on_to_prepare(tmp_path: Path) -> None:
    done = _run("create.sbatch", "--data", "folder:/d", "--n-trials", "40", "--profile=paper",
                "--pruner", "none", tmp_path=tmp_path, SLURM_CPUS_PER_TASK="6")
    assert done.returncode == 0, done.stderr
    calls = [line for line in done.stdout.splitlines() if line.startswith("recon-study")]
    assert calls == [
        "recon-study create --data folder:/d --n-trials 40 --profile=paper --pruner none",
        "recon-study prepare --data folder:/d --profile=paper --workers 6 --no-progress"]
