"""The real objective on a tiny synthetic data set: completes, prunes, records, saves."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
import soundfile as sf
from lightning.pytorch import Callback

from objectives.checkpoint import load_checkpoint
from objectives.context import ObjectiveContext
from objectives.objective import LstmObjective
from objectives.profiles import get_profile, with_max_epochs
from objectives.pruning import MissingMetricError, TrialPruningCallback
from objectives.search_space import TrialParams, baseline_params
from objectives.spec import TrialSpec
from objectives.training import train_configuration

ROOT = Path(__file__).resolve().parents[2]
QUICK = get_profile("quick")
TINY = "synthetic:6"  # 6 clips per class keeps a trial to seconds on a CPU


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study, trial) -> bool:
        return True


@pytest.fixture(scope="module")
def objective(tmp_path_factory):
    root = tmp_path_factory.mktemp("objective")
    experiment = TrialSpec(data=TINY, profile=with_max_epochs(QUICK, 2))
    ctx = ObjectiveContext(spec=experiment, cache_dir=root / "cache",
                           model_dir=root / "models", study_name="unit")
    return LstmObjective(ctx)


def test_trial_completes_with_attributes_and_saved_weights(objective):
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(baseline_params(objective.profile.search))
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.COMPLETE
    attrs = trial.user_attrs
    assert attrs["lambda"] == 0.0
    assert 0.0 <= attrs["test_accuracy"] <= 1.0
    assert attrs["epochs"] == 2 and len(attrs["val_curve"]) == 2
    assert trial.value == pytest.approx(max(attrs["val_curve"]))
    assert attrs["seconds"] > 0 and attrs["device"].startswith("cpu")
    assert attrs["feature_cache_key"] == objective.data.key
    assert sorted(trial.intermediate_values) == [0, 1]
    _, meta = load_checkpoint(attrs["model_path"])
    assert meta["params"].hidden == trial.params["hidden"]
    assert meta["val_accuracy"] == pytest.approx(trial.value)
    assert attrs["model_path"].endswith("unit/trial_00000.pt")


def test_always_prune_ends_pruned_after_the_first_epoch(objective):
    study = optuna.create_study(direction="maximize", pruner=AlwaysPrune())
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert trial.user_attrs["epochs"] == 1
    assert list(trial.intermediate_values) == [0]


def test_missing_pruning_metric_is_an_error(objective):
    trial = optuna.create_study(direction="maximize").ask()
    callback = TrialPruningCallback(trial, monitor="val/accuracy_typo")
    with pytest.raises(MissingMetricError, match="val/accuracy_typo"):
        train_configuration(objective.data, TrialParams(0.0, 0.1, 16), QUICK, max_epochs=1,
                            extra_callbacks=[callback])


def test_same_seed_same_result(objective):
    params = TrialParams(lam=1.0, dropout=0.1, hidden=16)
    runs = [train_configuration(objective.data, params, QUICK, seed=3,
                                max_epochs=2) for _ in range(2)]
    assert runs[0].val_curve == runs[1].val_curve
    assert runs[0].test_accuracy == runs[1].test_accuracy


class LearningRates(Callback):
    def __init__(self) -> None:
        self.rates: list[tuple[int, float]] = []  # (epoch, lr of the step about to be taken)
        self.steps_per_epoch = 0

    # Not on_train_batch_end: by then the last batch of an epoch already sees the decayed rate.
    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self.steps_per_epoch = trainer.num_training_batches
        self.rates.append((trainer.current_epoch, optimizer.param_groups[0]["lr"]))


def test_warm_up_ramps_linearly_into_the_epoch_decay(objective):
    train = dataclasses.replace(QUICK.train, batch_size=8, warmup_epochs=2, lr_decay=0.5)
    profile = dataclasses.replace(QUICK, train=train)
    rates = LearningRates()
    train_configuration(objective.data, TrialParams(1.0, 0.1, 16), profile, max_epochs=3,
                        extra_callbacks=[rates])
    per_epoch = rates.steps_per_epoch
    assert per_epoch >= 2 and len(rates.rates) == 3 * per_epoch
    warmup_steps = 2 * per_epoch
    for step, (epoch, lr) in enumerate(rates.rates):
        expected = train.learning_rate * 0.5 ** epoch * min(1.0, (step + 1) / warmup_steps)
        assert lr == pytest.approx(expected), (step, epoch)
    assert rates.rates[0][1] == pytest.approx(train.learning_rate / warmup_steps)


@pytest.mark.slow
def test_train_cli_prints_one_json_line(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "objectives.train", "--data", TINY, "--profile", "quick",
         "--lambda", "10", "--dropout", "0.2", "--hidden", "16", "--epochs", "1",
         "--cache-dir", str(tmp_path)], capture_output=True, text=True, check=False, timeout=300)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["lambda"] == 10.0 and result["epochs"] == 1
    for key in ("val_accuracy", "test_accuracy", "seconds"):
        assert key in result


@pytest.mark.slow
def test_train_cli_rejects_bad_input_in_one_line(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "objectives.train", "--data", "nosuch:thing", "--epochs", "1",
         "--cache-dir", str(tmp_path)], capture_output=True, text=True, check=False, timeout=120)
    assert completed.returncode == 1
    assert completed.stderr.strip().startswith("error:") and "Traceback" not in completed.stderr
    completed = subprocess.run(
        [sys.executable, "-m", "objectives.train", "--lambda", "-1", "--cache-dir", str(tmp_path)],
        capture_output=True, text=True, check=False, timeout=120)
    assert completed.returncode == 1 and "--lambda" in completed.stderr


@pytest.mark.slow
def test_train_cli_says_why_a_split_is_empty(tmp_path):
    # The composition root a worker loads its data with, met through `objectives.train`.
    audio = tmp_path / "audio"
    audio.mkdir()
    clip = (0.3 * np.sin(np.arange(4000) / 8000 * 2 * np.pi * 440)).astype(np.float32)
    for label, count in (("a", 2), ("b", 1)):
        for n in range(count):
            sf.write(audio / f"{label}_{n}.wav", clip * (n + 1) / 2, 8000)
    completed = subprocess.run(
        [sys.executable, "-m", "objectives.train", "--data", f"folder:{audio}", "--epochs", "1",
         "--cache-dir", str(tmp_path / "cache")], capture_output=True, text=True, check=False,
        timeout=300, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert completed.returncode == 1 and "Traceback" not in completed.stderr
    error = completed.stderr.strip().splitlines()[-1]
    assert error.startswith("error: the val and the test splits of feature cache "), error
    for needle in ("are empty", "files per class: a 2, b 1",
                   ">= 5 files for a val clip and >= 3 files for a test clip"):
        assert needle in error, error


def test_trials_reuse_the_clips_padded_once_per_worker(objective, monkeypatch):
    def no_padding(*args, **kwargs):
        raise AssertionError("a trial padded the cache's clips again")

    monkeypatch.setattr("objectives.batches.pad_clips", no_padding)
    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=1)
    assert study.trials[0].state == optuna.trial.TrialState.COMPLETE
