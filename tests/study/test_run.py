"""`python -m study run` with the embedded defaults (SQLite in the working directory)."""

from __future__ import annotations

import json

import pytest
from optuna.trial import TrialState

from tests.study.conftest import Cli, load


@pytest.mark.slow
def test_run_creates_works_and_summarizes(cli: Cli) -> None:
    proc = cli.run("run", "--objective", "mock", "--n-trials", "24", "--devices", "cpu",
                   "--per-device", "2")
    out = proc.stdout
    assert "24 finished trials of a budget of 24" in out
    assert "best trial" in out and "test accuracy" in out
    assert "λ = 0 best    trial 0" in out
    assert "importance    λ ranks" in out and "complete trials" in out
    assert "optuna-dashboard sqlite:///studies.db" in out
    assert "python -m study.best export" in out
    assert "trials finished 24/24" in proc.stderr  # progress lines (stderr is not a TTY)
    url = f"sqlite:///{cli.cwd / 'studies.db'}"
    study = load(url)
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials) == 24
    # run again: continues the same study up to a larger budget
    cli.run("run", "--n-trials", "30", "--devices", "cpu", "--per-device", "1")
    study = load(url)
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials) == 30
    exported = json.loads(cli.run("export", module="study.best").stdout)
    assert exported["trial"] == study.best_trial.number
