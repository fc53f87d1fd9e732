"""docker/create.sh (the compose file's one-shot step) run on the host with a stand-in `python`
that records its arguments: what it prepares and creates, from which variables."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "docker" / "create.sh"


def run_script(tmp_path: Path, **variables: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    calls = tmp_path / "calls.txt"
    fake = bin_dir / "python"
    fake.write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\n')
    fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "STUDY_CACHE_DIR": str(tmp_path / "cache"),
           **variables}
    proc = subprocess.run(["sh", str(SCRIPT)], capture_output=True, text=True, env=env,
                          check=False)
    lines = calls.read_text().splitlines() if calls.exists() else []
    return proc, lines


def test_creates_the_study_then_prepares_the_cache(tmp_path: Path) -> None:
    # The study first: it refuses contradicting settings in seconds, before hours of extraction.
    proc, calls = run_script(tmp_path, STUDY_DATA="synthetic:20", STUDY_PROFILE="quick",
                             STUDY_N_TRIALS="6", STUDY_MAX_EPOCHS="2", STUDY_OBJECTIVE="lstm",
                             STUDY_REPLICATE_SEEDS="2")
    assert proc.returncode == 0, proc.stderr
    assert calls[1] == (f"-m objectives.prepare --data synthetic:20 --profile quick "
                        f"--cache-dir {tmp_path / 'cache'} --no-progress")
    assert calls[0] == ("-m study create --data synthetic:20 --profile quick --n-trials 6 "
                        "--objective lstm --max-epochs 2 --replicate-seeds 2")


def test_zero_replicate_seeds_reaches_create(tmp_path: Path) -> None:
    # 0 is a value (no replicate phase), not "unset".
    proc, calls = run_script(tmp_path, STUDY_REPLICATE_SEEDS="0")
    assert proc.returncode == 0, proc.stderr
    assert calls[0].endswith("--objective lstm --replicate-seeds 0")


def test_other_create_flags_pass_through_split_on_spaces(tmp_path: Path) -> None:
    proc, calls = run_script(tmp_path, STUDY_PRUNER="median",
                             STUDY_CREATE_ARGS="--max-seeds 10  --target-ci 3")
    assert proc.returncode == 0, proc.stderr
    assert calls[0].endswith("--objective lstm --pruner median --max-seeds 10 --target-ci 3")


def test_a_failed_create_prepares_nothing(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.txt"
    (bin_dir / "python").write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\nexit 1\n')
    (bin_dir / "python").chmod(0o755)
    proc = subprocess.run(["sh", str(SCRIPT)], capture_output=True, text=True, check=False,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    assert proc.returncode == 1
    assert calls.read_text().splitlines() == [
        "-m study create --data synthetic --profile quick --n-trials 100 --objective lstm"]


def test_defaults_leave_epochs_and_replicate_seeds_to_the_profile(tmp_path: Path) -> None:
    proc, calls = run_script(tmp_path, STUDY_MAX_EPOCHS="", STUDY_REPLICATE_SEEDS="")
    assert proc.returncode == 0, proc.stderr
    # No pruner either: the service's default decides (compose must not keep a copy of it).
    assert calls[0] == ("-m study create --data synthetic --profile quick --n-trials 100 "
                        "--objective lstm")


def test_fma_without_a_mounted_folder_is_one_clear_error(tmp_path: Path) -> None:
    if os.path.isdir("/data/fma") and os.listdir("/data/fma"):
        pytest.skip("this host has a non-empty /data/fma")
    proc, calls = run_script(tmp_path, STUDY_DATA="fma:/data/fma")
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and "FMA_DIR" in proc.stderr
    assert calls == []
