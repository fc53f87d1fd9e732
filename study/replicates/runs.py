"""The replicate phase's runs: served through the gate (planned ones only), trained and recorded
with their per-clip predictions, and read back for the statistics."""

from __future__ import annotations

import base64
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from objectives import SearchBounds, TrialParams, record_fixed
from storage import GatedStudy, count_trials
from study.analysis.effects import Answer, build_answer
from study.design import Plan, Run
from study.errors import UserError
from study.gate import PhaseDone, gated
from study.model_store import TrialModels
from study.replicates.plan import BUDGET_ATTR, ReplicatePhase, current_plan, open_companion
from study.trials import FINISHED


def planned_only(phase: ReplicatePhase, deadline: float | None,
                 heartbeat_interval: int | None) -> GatedStudy:
    """The companion study whose `ask` only ever takes a planned (WAITING) replicate.

    A replicate that is RUNNING elsewhere may still fail and be re-queued, or belong to a killed
    worker (stale, then re-queued): the gate waits for those, as the search's budget does.
    """
    def waiting_first(study: GatedStudy) -> bool:
        if count_trials(study, (TrialState.WAITING,)):
            return True
        if count_trials(study, FINISHED) >= phase.budget:
            raise PhaseDone
        return False

    return gated(phase.study, waiting_first, deadline=deadline,
                 heartbeat_interval=heartbeat_interval)


def encode_labels(values: Sequence[int]) -> str:
    """Class indices as compact text (base64 of one byte each; two for many classes)."""
    array = np.asarray(values, dtype=np.uint8 if max(values, default=0) < 256 else np.uint16)
    return f"{array.dtype.name}:" + base64.b64encode(array.tobytes()).decode()


def decode_labels(text: str) -> np.ndarray:
    dtype, _, payload = text.partition(":")
    return np.frombuffer(base64.b64decode(payload), dtype=np.dtype(dtype)).astype(np.int64)


def run_replicate(objective: Any, trial: optuna.Trial, bounds: SearchBounds | None = None,
                  models: TrialModels | None = None) -> float:
    """Train the trial's planned arm with its seed; record what the statistics need. With
    `models` (a `study.model_store.TrialModels`) the run saves its model, kept if first of its arm."""
    attrs = trial.user_attrs
    if bounds is not None and attrs.get("with_params"):
        record_fixed(trial, bounds)  # planned with parameters (older plans' runs had none)
    if "arm" not in attrs:
        raise UserError(f"trial {trial.number} of {trial.study.study_name!r} is not a planned "
                        "replicate (no 'arm' attribute)")
    replicate = getattr(objective, "replicate", None)
    if replicate is None:
        raise UserError(f"the objective {type(objective).__name__} has no replicate(params, "
                        "seed) method, which the replicate phase needs (objectives/context.py)")
    params = TrialParams(lam=float(attrs["lambda"]), dropout=float(attrs["dropout"]),
                         hidden=int(attrs["hidden"]))
    seed = int(attrs["train_seed"])
    outcome = replicate(params, seed) if models is None else \
        models.replicate(trial, replicate, params, seed)
    record: dict[str, Any] = {
        "val_accuracy": outcome.val_accuracy, "test_accuracy": outcome.test_accuracy,
        "epochs": outcome.epochs, "seconds": round(outcome.seconds, 3), "device": outcome.device,
        "test_labels": encode_labels(outcome.test_labels),
        "test_predictions": encode_labels(outcome.test_predictions)}
    if outcome.holdout_accuracy is not None:
        record.update(holdout_accuracy=outcome.holdout_accuracy,
                      holdout_labels=encode_labels(outcome.holdout_labels),
                      holdout_predictions=encode_labels(outcome.holdout_predictions))
    for name, value in record.items():
        trial.set_user_attr(name, value)
    return float(outcome.val_accuracy)


def _correct(attrs: dict[str, Any], split: str) -> np.ndarray | None:
    if f"{split}_predictions" not in attrs:
        return None
    return (decode_labels(attrs[f"{split}_predictions"])
            == decode_labels(attrs[f"{split}_labels"])).astype(np.int8)


def finished_runs(companion: optuna.Study, plan: Plan) -> list[Run]:
    """The COMPLETE replicates of `plan` (one per arm and seed; a retry replaces its original)."""
    runs: dict[tuple[str, int], Run] = {}
    for trial in companion.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        attrs = trial.user_attrs
        if attrs.get("plan") != plan.source_trial or "test_accuracy" not in attrs:
            continue
        holdout = attrs.get("holdout_accuracy")
        runs[(attrs["arm"], int(attrs["seed"]))] = Run(
            arm=attrs["arm"], seed=int(attrs["seed"]), val_accuracy=float(attrs["val_accuracy"]),
            test_accuracy=float(attrs["test_accuracy"]), seconds=float(attrs.get("seconds", 0)),
            test_correct=_correct(attrs, "test"),
            holdout_accuracy=None if holdout is None else float(holdout),
            holdout_correct=_correct(attrs, "holdout"))
    return sorted(runs.values(), key=lambda r: (r.arm, r.seed))


def replicate_counts(companion: optuna.Study | None) -> tuple[int, int]:
    """(finished, planned) replicate trials."""
    if companion is None:
        return 0, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        done = count_trials(companion, FINISHED)
    return done, int(companion.user_attrs.get(BUDGET_ATTR, 0))


def answer_of(search_study: optuna.Study, *, bootstrap_seed: int = 0) -> Answer | None:
    """The answer of a study's replicate phase so far (None before it was planned)."""
    companion = open_companion(search_study, create=False)
    plan = current_plan(companion)
    if plan is None:
        return None
    return build_answer(plan, finished_runs(companion, plan), bootstrap_seed=bootstrap_seed)
