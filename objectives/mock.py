"""A mocked objective: a deterministic function of (λ, dropout, hidden) that runs in milliseconds.

It goes through the same search space, reporting, pruning and user attributes as the real
objective, so the study service (workers, budget, pruning, export) is tested without training.
λ matters most (accuracy peaks near λ ≈ 3, the λ = 0 baseline is lower); dropout and hidden
size matter a little. `STUDY_MOCK_DELAY` (seconds per trial, spread over the epochs) makes it
useful for benchmarks and fault tests.
"""

from __future__ import annotations

import hashlib
import math
import os
import time

import optuna

from objectives.context import ObjectiveContext
from objectives.search_space import TrialParams, suggest

DELAY_ENV = "STUDY_MOCK_DELAY"
EPOCHS = 10


def final_accuracy(params: TrialParams) -> float:
    """The accuracy a configuration converges to (the mock's ground truth)."""
    lam_gain = 0.0 if params.lam <= 0 else 0.12 * math.exp(-((math.log10(params.lam) - 0.5) ** 2))
    dropout_cost = 0.04 * ((params.dropout - 0.3) / 0.3) ** 2
    hidden_gain = 0.03 * max(0.0, 1.0 - abs(params.hidden - 64) / 96)
    return 0.45 + lam_gain - dropout_cost + hidden_gain


def _jitter(params: TrialParams, epoch: int) -> float:
    """Deterministic noise in [-0.005, 0.005) so curves are not perfectly smooth."""
    digest = hashlib.sha256(repr((params.as_dict(), epoch)).encode()).digest()
    return (int.from_bytes(digest[:4], "big") / 2**32 - 0.5) * 0.01


def curve(params: TrialParams, epochs: int = EPOCHS) -> list[float]:
    """Validation accuracy per epoch: rises towards `final_accuracy`."""
    final = final_accuracy(params)
    return [round(final * (1.0 - math.exp(-(epoch + 1) / 3.0)) + _jitter(params, epoch), 6)
            for epoch in range(epochs)]


class MockObjective:
    """Built once per worker like the real objective; each call takes milliseconds."""

    def __init__(self, ctx: ObjectiveContext) -> None:
        self.ctx = ctx
        self.profile = ctx.profile_settings()
        self.epochs = ctx.max_epochs or EPOCHS
        self.delay = float(os.environ.get(DELAY_ENV) or 0.0)
        key = hashlib.sha256(f"mock:{ctx.data}:{ctx.profile}".encode()).hexdigest()[:16]
        self.cache_key = key

    def __call__(self, trial: optuna.trial.BaseTrial) -> float:
        started = time.perf_counter()
        params = suggest(trial, self.profile.search)
        values = curve(params, self.epochs)
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
        device = "cpu" if self.ctx.device == "auto" else self.ctx.device
        for name, attr in (("test_accuracy", round(max(seen) - 0.02 + _jitter(params, -1), 6)),
                           ("epochs", len(seen)), ("seconds", round(time.perf_counter() - started, 4)),
                           ("device", device), ("feature_cache_key", self.cache_key),
                           ("model_path", None), ("val_curve", seen)):
            trial.set_user_attr(name, attr)
        if pruned_at is not None:
            raise optuna.TrialPruned(f"pruned after epoch {pruned_at}")
        return max(seen)
