"""Mocked studies for the report, analysis and dashboard tests, built directly with Optuna.

Trials use the real search-space distributions (taken from `objectives.search_space.suggest` on
a throwaway trial) and the user attributes the real objective sets, so the report sees what a
real study holds, in milliseconds. Each study stores the experiment the service would have
stored (objective `mock`, its budget used up), so `run_replicates` can serve its replicate phase
with the service's own worker and the mock objective, in this process.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import TrialState

from objectives.profiles import get_profile
from objectives.search_space import baseline_params, lambda_from_log10, suggest
from study import service
from study.execution.worker import WorkerOptions, run_worker
from study.experiment import Experiment
from study.replicates.plan import ensure_planned
from study.replicates.settings import ReplicateSettings
from study.search.pruner import pruner_spec
from tests.study.conftest import CLEARED, REPO, Cli

PROFILE = get_profile("quick")
EPOCHS = 8


def search_distributions() -> dict:
    """The distributions `suggest` registers, read from a real trial of a throwaway study."""
    trial = optuna.create_study(direction="maximize").ask()
    suggest(trial, PROFILE.search)
    return dict(trial.distributions)


def _lambda_matters(p: dict, rng: np.random.Generator) -> float:
    lam = lambda_from_log10(p["log10_lambda"], PROFILE.search)
    gain = 0.0 if lam == 0 else 0.25 * math.exp(-((math.log10(lam) - 0.5) ** 2))
    return 0.45 + gain + 0.01 * (p["hidden"] / 96) + rng.normal(0, 0.004)


def _dropout_matters(p: dict, rng: np.random.Generator) -> float:
    return 0.45 + 0.3 * (1.0 - ((p["dropout"] - 0.3) / 0.3) ** 2) + rng.normal(0, 0.004)


def _best_dropout_worst_lambda(p: dict, rng: np.random.Generator) -> float:
    # The best trials concentrate in dropout; the worst ones in λ (very large λ ruins training).
    peak = 0.25 * math.exp(-(((p["dropout"] - 0.3) / 0.03) ** 2))
    penalty = 0.35 if p["log10_lambda"] > 1.5 else 0.0
    return 0.5 + peak - penalty + rng.normal(0, 0.002)


SHAPES = {"lambda": _lambda_matters, "dropout": _dropout_matters,
          "best-dropout-worst-lambda": _best_dropout_worst_lambda}


def _curve(final: float, epochs: int = EPOCHS) -> list[float]:
    return [round(final * (1.0 - math.exp(-(e + 1) / 2.5)), 6) for e in range(epochs)]


def add_mock_trials(study: optuna.Study, shape: str = "lambda", n_complete: int = 60,
                    n_pruned: int = 6, seed: int = 0) -> None:
    """Add the λ = 0 baseline, `n_complete` random COMPLETE trials and `n_pruned` PRUNED ones."""
    rng = np.random.default_rng(seed)
    dists = search_distributions()
    value_of = SHAPES[shape]
    low, high, step = PROFILE.search.hidden
    trials = []
    for i in range(n_complete + n_pruned):
        if i == 0:
            params = baseline_params(PROFILE.search)
        else:
            params = {"log10_lambda": float(rng.uniform(*PROFILE.search.log10_lambda)),
                      "dropout": float(rng.uniform(*PROFILE.search.dropout)),
                      "hidden": int(rng.choice(np.arange(low, high + 1, step)))}
        final = float(np.clip(value_of(params, rng), 0.05, 0.99))
        curve = _curve(final)
        pruned = i >= n_complete
        if pruned:
            curve = curve[:3]
        attrs = {"lambda": lambda_from_log10(params["log10_lambda"], PROFILE.search),
                 "test_accuracy": round(final - 0.02, 6), "epochs": len(curve),
                 "seconds": round(2.0 + params["hidden"] / 16 + rng.uniform(0, 1), 3),
                 "device": "cpu", "val_curve": curve}
        trials.append(optuna.trial.create_trial(
            state=TrialState.PRUNED if pruned else TrialState.COMPLETE,
            value=None if pruned else max(curve), params=params, distributions=dists,
            user_attrs=attrs, intermediate_values=dict(enumerate(curve))))
    study.add_trials(trials)


def experiment(*, n_trials: int | None, seeds: int = 3,
               holdout_data: str | None = None) -> Experiment:
    """The experiment of a mock study on the quick profile."""
    return Experiment(data="synthetic", profile=PROFILE, objective="mock",
                      pruner=pruner_spec("median", PROFILE.train.max_epochs), n_trials=n_trials,
                      replicates=ReplicateSettings(seeds=seeds), holdout_data=holdout_data)


def make_study(shape: str = "lambda", *, storage=None, name: str = "mock-report",
               n_complete: int = 60, n_pruned: int = 6, seed: int = 0,
               budget: int | None = None, seeds: int = 3,
               holdout_data: str | None = None) -> optuna.Study:
    """A maximized study filled with mock trials (in memory unless `storage` is given), its
    metric named and its experiment stored as the service does; the budget defaults to the
    trials added (the search is finished)."""
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    service.name_metric(study)
    total = n_complete + n_pruned
    study.set_user_attr(service.EXPERIMENT_ATTR, experiment(
        n_trials=total if budget is None else budget, seeds=seeds,
        holdout_data=holdout_data).as_dict())
    study.set_user_attr(service.READY_ATTR, True)
    add_mock_trials(study, shape, n_complete, n_pruned, seed)
    return study


def make_loaded(shape: str = "lambda", *, storage=None, name: str = "mock-report",
                **options) -> service.LoadedStudy:
    """`make_study`, as every command sees a study (`service.open_study`'s LoadedStudy)."""
    study = make_study(shape, storage=storage, name=name, **options)
    return service.LoadedStudy(study, service.read_experiment(study.user_attrs),
                               storage or "in-memory")


def run_replicates(loaded: service.LoadedStudy, work_dir: Path) -> None:
    """Plan the replicate phase of a study in a real storage and serve it with the service's
    worker and the mock objective, in this process (milliseconds per run)."""
    ensure_planned(loaded)
    run_worker(WorkerOptions(url=loaded.url, study=loaded.name, cache_dir=work_dir / "cache",
                             model_dir=work_dir / "models", heartbeat=service.Heartbeat(30, 120),
                             storage_outage_s=10.0, quiet=True, search=False))


def cli_mock_study(work_dir: Path, name: str, n_trials: int) -> tuple[Cli, str]:
    """A study made by the real service in a subprocess, `python -m study run --objective mock`
    (search, then replicates), in a hermetic environment rooted at `work_dir`; the CLI runner
    and the storage URL."""
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update(PYTHONPATH=str(REPO), STUDY_CACHE_DIR=str(work_dir / "cache"),
               STUDY_MODEL_DIR=str(work_dir / "models"))
    cli = Cli(env, work_dir)
    url = f"sqlite:///{work_dir / 'studies.db'}"
    cli.run("run", "--storage", url, "--study", name, "--objective", "mock", "--n-trials",
            str(n_trials), "--devices", "cpu", "--per-device", "1", timeout=300)
    return cli, url
