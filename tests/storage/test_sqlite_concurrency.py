"""Several local processes share one SQLite file without "database is locked" failures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from storage import open_storage

REPO = Path(__file__).resolve().parents[2]
_WORKER = """
import sys, optuna
from storage import open_storage
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.load_study(study_name="shared", storage=open_storage(sys.argv[1]))
study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=15)
"""


@pytest.mark.slow
def test_parallel_workers_share_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    # Created once up front: concurrent table creation on a fresh file can race (PITFALLS.md).
    optuna.create_study(study_name="shared", storage=open_storage(url))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, url], env=env, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    errors = [w.communicate(timeout=300)[1] for w in workers]
    assert [w.returncode for w in workers] == [0] * 4, errors
    assert not any("locked" in e for e in errors), errors
    trials = optuna.load_study(study_name="shared", storage=open_storage(url)).trials
    assert len(trials) == 60
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
