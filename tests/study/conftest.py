"""Helpers for the study tests: run the real CLI in a subprocess, with a hermetic environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from study.defaults import ENV_VARS

REPO = Path(__file__).resolve().parents[2]
# Every variable the study CLI, its workers and objectives read.
CLEARED = (*ENV_VARS, "CUDA_VISIBLE_DEVICES")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for CLI subprocesses: no inherited study settings, caches under tmp_path."""
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["STUDY_CACHE_DIR"] = str(tmp_path / "cache")
    env["STUDY_MODEL_DIR"] = str(tmp_path / "models")
    return env


class Cli:
    """Runs `python -m <module> ...` in a subprocess in tmp_path."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.cwd = cwd

    def argv(self, *args: str, module: str = "study") -> list[str]:
        return [sys.executable, "-m", module, *args]

    def run(self, *args: str, module: str = "study", env: dict[str, str] | None = None,
            timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.argv(*args, module=module), env={**self.env, **(env or {})},
                              cwd=self.cwd, capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"{args} exited {proc.returncode}\nstdout:\n{proc.stdout}\n"
                                 f"stderr:\n{proc.stderr}")
        return proc

    def popen(self, *args: str, module: str = "study",
              env: dict[str, str] | None = None) -> subprocess.Popen:
        return subprocess.Popen(self.argv(*args, module=module), env={**self.env, **(env or {})},
                                cwd=self.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)


@pytest.fixture
def cli(cli_env: dict[str, str], tmp_path: Path) -> Cli:
    return Cli(cli_env, tmp_path)


@pytest.fixture
def sqlite_url(cli: Cli) -> str:
    """An SQLite file in the CLI's working directory."""
    return f"sqlite:///{cli.cwd / 'studies.db'}"


def load(url: str, name: str = "recon-lambda") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=url)
