"""The real objective on a tiny budget: `study run`, then `study.best export` and `evaluate`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.study.conftest import Cli

TINY = "synthetic:6"  # 6 clips per class keeps a trial to seconds on a CPU


@pytest.mark.slow
def test_run_export_evaluate_with_lstm(cli: Cli) -> None:
    run = cli.run("run", "--data", TINY, "--n-trials", "2", "--max-epochs", "2", "--devices",
                  "cpu", "--per-device", "1", "--replicate-seeds", "0", timeout=900)
    assert "2 finished search trials of a budget of 2" in run.stdout, run.stderr
    exported = json.loads(cli.run("export", module="study.best").stdout)
    assert exported["experiment"]["objective"] == "lstm"
    model = Path(exported["model_path"])
    assert model.is_file() and model.is_relative_to(cli.cwd / "models")
    assert 0.0 <= exported["test_accuracy"] <= 1.0
    assert exported["trial_user_attrs"]["feature_cache_key"] == \
        exported["study_user_attrs"]["feature_cache_key"]
    evaluated = json.loads(cli.run("evaluate", "--data", "synthetic:5", module="study.best",
                                   timeout=600).stdout)
    assert evaluated["source"]["trial"] == exported["trial"]
    assert 0.0 <= evaluated["accuracy"] <= 1.0 and evaluated["clips"] > 0
