"""The experiment of a study: built once from flags, stored as one value, read back everywhere;
studies created before it was one value still work."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import optuna
import pytest

from objectives.profiles import get_profile
from study import defaults, service
from study.errors import UserError
from study.experiment import FORMAT, Experiment, check_flags, from_flags
from tests.helpers import one_line_error
from tests.study.conftest import Cli

QUICK = get_profile("quick")


def _args(**flags) -> argparse.Namespace:
    return argparse.Namespace(**flags)


def test_flags_become_one_value_that_survives_the_store(tmp_path: Path) -> None:
    (tmp_path / "audio").mkdir()
    experiment = from_flags(
        _args(data="folder:audio", profile="quick", max_epochs=5, lambda_range=(0.1, 10.0),
              replicate_seeds=6, replicate_lambdas=[2.0], seed=7, holdout_data="synthetic:5",
              pruner="median"),
        n_trials=9)
    assert experiment.data == f"folder:{Path.cwd() / 'audio'}"  # absolute: any cwd reads it
    assert experiment.profile.train.max_epochs == 5
    assert experiment.search.lambda_off_below == pytest.approx(-1.0)
    assert experiment.pruner["n_warmup_steps"] == 1  # a tenth of the capped epochs
    assert (experiment.replicates.seeds, experiment.replicates.lambdas) == (6, (2.0,))
    assert (experiment.seed, experiment.n_trials, experiment.holdout_data) == (7, 9, "synthetic:5")
    stored = json.loads(json.dumps(experiment.as_dict()))
    assert stored["format"] == FORMAT and Experiment.from_dict(stored) == experiment


def test_defaults_fill_what_no_flag_says() -> None:
    experiment = from_flags(_args(), n_trials=None)
    assert (experiment.data, experiment.profile, experiment.objective, experiment.seed) == \
        ("synthetic", QUICK, "lstm", 0)
    assert experiment.replicates.seeds == defaults.replicates("quick").seeds
    assert experiment.pruner["name"] == "hyperband"  # chosen by measurement (BENCHMARKS 3b)


def test_a_flag_that_contradicts_the_stored_experiment_is_refused() -> None:
    experiment = from_flags(_args(objective="mock"), n_trials=3)
    check_flags(experiment, _args(objective="mock", data="synthetic"), "s")
    with pytest.raises(UserError, match="created with --objective mock, not lstm"):
        check_flags(experiment, _args(objective="lstm"), "s")
    with pytest.raises(UserError, match="--max-epochs 12, not 3"):
        check_flags(experiment, _args(max_epochs=3), "s")


def _legacy_study(url: str) -> None:
    """A study as the previous version stored it: one attribute per setting, no `experiment`."""
    study = optuna.create_study(study_name="old", storage=url, direction="maximize")
    for key, value in {"data": "synthetic", "profile": "quick", "objective": "mock", "seed": 3,
                       "split": "seed", "max_epochs": 4, "n_trials": 5,
                       "search_space": QUICK.search.as_dict(),
                       "pruner": {"name": "none"}, "ready": True}.items():
        study.set_user_attr(key, json.loads(json.dumps(value)))


def test_a_study_created_before_the_experiment_was_one_value_is_read(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _legacy_study(url)
    experiment = service.open_study(url, "old").experiment
    assert (experiment.objective, experiment.seed, experiment.n_trials) == ("mock", 3, 5)
    assert experiment.profile.train.max_epochs == 4 and experiment.search == QUICK.search
    assert experiment.replicates.seeds == 0  # old studies had no replicate phase


def test_workers_and_status_serve_an_old_study(cli: Cli) -> None:
    url = f"sqlite:///{cli.cwd / 'old.db'}"
    _legacy_study(url)
    cli.run("worker", "--storage", url, "--study", "old", "--devices", "cpu", "--per-device", "1")
    status = json.loads(cli.run("status", "--storage", url, "--study", "old",
                                "--format", "json").stdout)
    assert status["finished"] == 5 and status["objective"] == "mock"


@pytest.mark.slow
def test_an_experiment_of_another_format_is_one_line_naming_it(cli: Cli) -> None:
    url = f"sqlite:///{cli.cwd / 'future.db'}"
    study = optuna.create_study(study_name="future", storage=url, direction="maximize")
    study.set_user_attr("experiment", {"format": "recon-lambda-experiment/99"})
    study.set_user_attr("ready", True)
    one_line_error(cli.run("status", "--storage", url, "--study", "future", check=False),
                   "recon-lambda-experiment/99", FORMAT)
