"""A mocked objective: a deterministic function of (λ, dropout, hidden) that runs in milliseconds.

It goes through the same search space, reporting, pruning and user attributes as the real
objective, so the study service (workers, budget, pruning, replicates, export) is tested without
training. λ matters most (accuracy peaks near λ ≈ 3, the λ = 0 baseline is lower); dropout and
hidden size matter a little. A delay per trial (`STUDY_MOCK_DELAY` seconds, spread over the
epochs) makes it useful for benchmarks and fault tests.

Replicates add noise a real run has: a part shared by every arm of one seed (the same initial
weights and batch order) and a part of each run, and per-clip test predictions whose accuracy is
the run's. Subclasses change the ground truth (`lambda_gain`, `seed_sd`, `run_sd`) to test the
statistics against a known effect.
"""

from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path

import numpy as np
import optuna

from objectives.context import ObjectiveContext, ReplicateOutcome
from objectives.search_space import TrialParams, suggest

EPOCHS = 10  # at most: the mock trains min(EPOCHS, the profile's epochs)
LAMBDA_GAIN = 0.12  # accuracy gained at the best λ (≈ 3) over λ = 0
TEST_CLIPS, HOLDOUT_CLIPS, CLASSES = 160, 100, 8  # the synthetic source's test split


def final_accuracy(params: TrialParams, lambda_gain: float = LAMBDA_GAIN) -> float:
    """The accuracy a configuration converges to (the mock's ground truth)."""
    lam_gain = 0.0 if params.lam <= 0 else \
        lambda_gain * math.exp(-((math.log10(params.lam) - 0.5) ** 2))
    dropout_cost = 0.04 * ((params.dropout - 0.3) / 0.3) ** 2
    hidden_gain = 0.03 * max(0.0, 1.0 - abs(params.hidden - 64) / 96)
    return 0.45 + lam_gain - dropout_cost + hidden_gain


def _jitter(params: TrialParams, epoch: int) -> float:
    """Deterministic noise in [-0.005, 0.005) so curves are not perfectly smooth."""
    digest = hashlib.sha256(repr((params.as_dict(), epoch)).encode()).digest()
    return (int.from_bytes(digest[:4], "big") / 2**32 - 0.5) * 0.01


def curve(params: TrialParams, epochs: int = EPOCHS,
          lambda_gain: float = LAMBDA_GAIN) -> list[float]:
    """Validation accuracy per epoch: rises towards `final_accuracy`."""
    final = final_accuracy(params, lambda_gain)
    return [round(final * (1.0 - math.exp(-(epoch + 1) / 3.0)) + _jitter(params, epoch), 6)
            for epoch in range(epochs)]


def _rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8],
                                                "big"))


def _clips(accuracy: float, n: int, run: tuple, difficulty_seed: str) -> tuple[list, list]:
    """(labels, predictions) of `n` clips, exactly round(accuracy · n) right: the easiest clips
    (a fixed difficulty per clip) plus noise of this run, so similar runs get similar clips."""
    labels = [i % CLASSES for i in range(n)]
    difficulty = _rng(difficulty_seed).uniform(size=n) + 0.3 * _rng(*run).normal(size=n)
    right = set(np.argsort(difficulty)[:round(min(max(accuracy, 0.0), 1.0) * n)].tolist())
    return labels, [label if i in right else (label + 1) % CLASSES
                    for i, label in enumerate(labels)]


class MockObjective:
    """Built once per worker like the real objective; each call takes milliseconds."""

    lambda_gain = LAMBDA_GAIN
    seed_sd = 0.02  # replicates: noise shared by all arms of one seed
    run_sd = 0.01  # replicates: noise of each run
    gc_after_trial = False  # a mock trial leaves no tensors or trainers behind to collect

    def __init__(self, ctx: ObjectiveContext) -> None:
        self.ctx = ctx
        self.profile = ctx.spec.profile
        self.epochs = min(EPOCHS, self.profile.train.max_epochs)
        self.delay = ctx.mock_delay
        key = hashlib.sha256(f"mock:{ctx.spec.data}:{self.profile.name}".encode())
        self.cache_key = key.hexdigest()[:16]

    def __call__(self, trial: optuna.trial.BaseTrial) -> float:
        started = time.perf_counter()
        params = suggest(trial, self.profile.search)
        values = curve(params, self.epochs, self.lambda_gain)
        seen: list[float] = []
        pruned_at = None
        for epoch, value in enumerate(values):
            if self.delay > 0:
                time.sleep(self.delay / self.epochs)
            seen.append(value)
            trial.report(value, epoch)
            if trial.should_prune():
                pruned_at = epoch
                break
        device = self.device
        for name, attr in (("test_accuracy", round(max(seen) - 0.02 + _jitter(params, -1), 6)),
                           ("epochs", len(seen)), ("seconds", round(time.perf_counter() - started, 4)),
                           ("device", device), ("feature_cache_key", self.cache_key),
                           ("model_path", None), ("val_curve", seen)):
            trial.set_user_attr(name, attr)
        if pruned_at is not None:
            raise optuna.TrialPruned(f"pruned after epoch {pruned_at}")
        return max(seen)

    @property
    def device(self) -> str:
        return "cpu" if self.ctx.device == "auto" else self.ctx.device

    def truth(self, params: TrialParams) -> float:
        """The accuracy replicates of `params` scatter around (subclasses set a known effect)."""
        return final_accuracy(params, self.lambda_gain)

    def replicate(self, params: TrialParams, seed: int,
                  model_path: Path | None = None) -> ReplicateOutcome:
        """One replicate run: the ground truth plus seed and run noise, per-clip predictions.
        It trains no model, so it saves none to `model_path`."""
        started = time.perf_counter()
        if self.delay > 0:
            time.sleep(self.delay)
        shared = self.seed_sd * _rng("seed", seed).normal()
        own = self.run_sd * _rng("run", params.as_dict(), seed).normal()
        accuracy = self.truth(params) + shared + own
        labels, predictions = _clips(accuracy, TEST_CLIPS, ("test", params.as_dict(), seed),
                                     "test clips")
        test = float(np.mean(np.equal(labels, predictions)))
        holdout: dict = {}
        if self.ctx.spec.holdout_data:
            h_labels, h_predictions = _clips(accuracy - 0.05, HOLDOUT_CLIPS,
                                             ("holdout", params.as_dict(), seed), "holdout clips")
            holdout = {"holdout_accuracy": float(np.mean(np.equal(h_labels, h_predictions))),
                       "holdout_labels": h_labels, "holdout_predictions": h_predictions}
        return ReplicateOutcome(
            val_accuracy=round(accuracy + 0.02, 6), test_accuracy=test, epochs=self.epochs,
            seconds=time.perf_counter() - started, device=self.device, test_labels=labels,
            test_predictions=predictions, **holdout)
