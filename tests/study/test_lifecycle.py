"""The study lifecycle through the real CLI on SQLite and a real PostgreSQL cluster."""

from __future__ import annotations

import json
from collections import Counter

import optuna
import pytest
import yaml
from optuna.trial import TrialState
from sqlalchemy.engine import make_url

from objectives.profiles import get_profile
from objectives.search_space import baseline_params
from study import service
from study.trials import best_trial
from tests.study.conftest import FINISHED, Cli, load


def _baseline_trials(study) -> list:
    wanted = baseline_params(get_profile("quick").search)
    return [t for t in study.trials
            if t.params == wanted or t.system_attrs.get("fixed_params") == wanted]


def test_create_twice_gives_one_study(cli: Cli, storage_url: str) -> None:
    first = cli.run("create", "--storage", storage_url, "--objective", "mock", "--n-trials", "7")
    assert "created study 'recon-lambda'" in first.stdout
    second = cli.run("create", "--storage", storage_url, "--objective", "mock")
    assert "already exists" in second.stdout
    study = load(storage_url)
    attrs = study.user_attrs
    experiment = attrs["experiment"]  # the whole experiment, one attribute
    assert experiment["objective"] == "mock" and experiment["data"] == "synthetic"
    assert experiment["profile"]["name"] == "quick"
    assert experiment["profile"]["search"] == json.loads(json.dumps(
        get_profile("quick").search.as_dict()))
    assert experiment["pruner"]["name"] == "hyperband" and experiment["n_trials"] == 7
    assert experiment["pruner"]["min_resource"] == 1 and experiment["pruner"]["reduction_factor"] == 3
    assert attrs["versions"]["optuna"] and attrs["feature_cache_key"]
    assert len(_baseline_trials(study)) == 1
    assert [t.state for t in study.trials] == [TrialState.WAITING]
    password = make_url(storage_url).password  # PostgreSQL's; SQLite URLs have none
    if password:  # never print passwords
        assert password not in first.stdout + first.stderr + second.stdout + second.stderr


def test_median_warm_up_follows_the_epochs_a_trial_may_train(cli: Cli, tmp_path) -> None:
    paper = f"sqlite:///{tmp_path / 'paper.db'}"
    cli.run("create", "--storage", paper, "--objective", "mock", "--profile", "paper",
            "--pruner", "median")
    assert load(paper).user_attrs["experiment"]["pruner"]["n_warmup_steps"] == 26  # 256 epochs
    capped = f"sqlite:///{tmp_path / 'capped.db'}"
    cli.run("create", "--storage", capped, "--objective", "mock", "--max-epochs", "40",
            "--pruner", "median")
    assert load(capped).user_attrs["experiment"]["pruner"]["n_warmup_steps"] == 4
    worker_study = service.open_study(capped, "recon-lambda").study
    assert isinstance(worker_study.pruner, optuna.pruners.MedianPruner)
    assert worker_study.pruner._n_warmup_steps == 4  # workers prune from the stored spec


@pytest.mark.slow
def test_concurrent_creates_give_one_study_and_one_baseline(cli: Cli, storage_url: str) -> None:
    procs = [cli.popen("create", "--storage", storage_url, "--objective", "mock")
             for _ in range(8)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, outputs
    assert sum("created study" in out for out, _ in outputs) == 1
    study = load(storage_url)
    assert optuna.get_all_study_names(storage_url) == ["recon-lambda"]
    assert len(_baseline_trials(study)) == 1


@pytest.mark.slow
def test_four_workers_share_one_budget(cli: Cli, storage_url: str) -> None:
    cli.run("create", "--storage", storage_url, "--objective", "mock")
    workers = [cli.popen("worker", "--storage", storage_url, "--n-trials", "40", "--devices",
                         "cpu", "--per-device", "1", "--quiet") for _ in range(4)]
    outputs = [w.communicate(timeout=300) for w in workers]
    assert [w.returncode for w in workers] == [0] * 4, outputs
    study = load(storage_url)
    trials = study.trials
    states = Counter(t.state for t in trials)
    assert states[TrialState.COMPLETE] + states[TrialState.PRUNED] == 40, states
    assert states[TrialState.RUNNING] == 0 and states[TrialState.FAIL] == 0, states
    assert len({t.number for t in trials}) == len(trials)
    baseline = _baseline_trials(study)
    assert len(baseline) == 1 and baseline[0].state in FINISHED
    assert baseline[0].user_attrs["lambda"] == 0.0
    # the median pruner prunes some trials of the mock objective
    assert states[TrialState.PRUNED] > 0
    # every worker process has its own sampler seed
    seeds = {t.user_attrs["worker"]: t.user_attrs["sampler_seed"] for t in trials}
    assert len(seeds) == 4 and len(set(seeds.values())) == 4
    # a worker started after the budget is spent exits at once
    late = cli.run("worker", "--storage", storage_url, "--n-trials", "40", "--devices", "cpu",
                   "--per-device", "1")
    assert "already has 40 finished trials" in late.stderr
    assert len(load(storage_url).trials) == len(trials)

    # export in both formats names the best trial (ties: the first)
    best = best_trial(study)
    exported = json.loads(cli.run("export", "--storage", storage_url, module="study.best").stdout)
    as_yaml = yaml.safe_load(cli.run("export", "--storage", storage_url, "--format", "yaml",
                                     module="study.best").stdout)
    for record in (exported, as_yaml):
        assert record["trial"] == best.number
        assert record["value"] == pytest.approx(best.value)
        assert record["params"] == {**best.params, "lambda": best.user_attrs["lambda"]}
        assert record["test_accuracy"] == best.user_attrs["test_accuracy"]
        assert record["trial_user_attrs"] == best.user_attrs
        assert record["study_user_attrs"] == study.user_attrs
        assert "model_path" in record
    out_file = cli.cwd / "best" / "best.yaml"
    cli.run("export", "--storage", storage_url, "--format", "yaml", "--output", str(out_file),
            module="study.best")
    assert yaml.safe_load(out_file.read_text()) == as_yaml

    status = json.loads(cli.run("status", "--storage", storage_url, "--format", "json").stdout)
    assert status["finished"] == 40 and status["workers_alive"] == 0
    assert status["best"]["number"] == best.number
    table = cli.run("status", "--storage", storage_url).stdout
    assert "finished      40" in table and "workers alive 0" in table


@pytest.mark.slow
def test_hyperband_and_no_pruner(cli: Cli, tmp_path) -> None:
    for pruner, name in (("hyperband", "hb"), ("none", "np")):
        url = f"sqlite:///{tmp_path / (name + '.db')}"
        cli.run("create", "--storage", url, "--objective", "mock", "--pruner", pruner)
        cli.run("worker", "--storage", url, "--n-trials", "15", "--devices", "cpu", "--quiet")
        study = load(url)
        assert study.user_attrs["experiment"]["pruner"]["name"] == pruner
        states = Counter(t.state for t in study.trials)
        assert states[TrialState.COMPLETE] + states[TrialState.PRUNED] == 15
        if pruner == "none":
            assert states[TrialState.PRUNED] == 0
