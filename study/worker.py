"""One worker process: load the study and its objective once, run trials until the budget is spent.

Trials run through `study.optimize` (so heartbeats and the stale-trial retry work). SIGTERM is
turned into KeyboardInterrupt, which Optuna records as a failed trial; a trial interrupted
outside the objective is failed here, so nothing is left RUNNING.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import zlib
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

from study import budget as budget_mod
from study import service
from study.options import Settings, UserError, load_objective_factory

MAX_FAILURES_IN_A_ROW = 3  # a worker whose objective keeps failing stops instead of spinning
EXIT_INTERRUPTED = 130


def worker_id(slot: str | None) -> str:
    """Who ran a trial: host, process id and the launcher's slot (device:index)."""
    base = f"{socket.gethostname()}:{os.getpid()}"
    return f"{base}:{slot}" if slot else base


def sampler_seed(base_seed: int, ident: str) -> int:
    """A distinct TPE seed per worker process (shared seeds make workers suggest alike)."""
    return (base_seed * 1_000_003 + zlib.crc32(ident.encode())) % 2**32


@dataclass
class _Guard:
    """Stops the worker after too many failed trials in a row, remembering the last error."""

    failures: int = 0
    last_error: BaseException | None = None
    stopped: bool = False
    ids: list[int] = field(default_factory=list)

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.failures = self.failures + 1 if trial.state == TrialState.FAIL else 0
        if self.failures >= MAX_FAILURES_IN_A_ROW:
            self.stopped = True
            study.stop()


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_worker(settings: Settings, *, n_trials: int | None, timeout: float | None,
               slot: str | None = None, quiet: bool = False) -> int:
    """Run trials in this process until the study-wide budget or the timeout; the exit code."""
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _raise_interrupt)
    optuna.logging.set_verbosity(logging.WARNING if quiet else logging.INFO)
    study = service.load(settings.storage_url, settings.study_name)
    budget = n_trials if n_trials is not None else study.user_attrs.get("n_trials")
    if budget is not None and budget_mod.n_finished(study) >= budget:
        _say(quiet, f"study {settings.study_name!r} already has {budget} finished trials; "
             "raise --n-trials to run more")
        return 0

    from objectives.context import ObjectiveContext

    device = "cpu" if os.environ.get("CUDA_VISIBLE_DEVICES") == "" else (
        "cuda" if slot and not slot.startswith("cpu") else "auto")
    ctx = ObjectiveContext(data=settings.data, profile=settings.profile,
                           cache_dir=settings.cache_dir, model_dir=settings.model_dir,
                           study_name=settings.study_name, seed=settings.seed, device=device,
                           max_epochs=settings.max_epochs, split=settings.split)
    objective = load_objective_factory(settings.objective)(ctx)
    ident = worker_id(slot)
    seed = sampler_seed(settings.seed, ident)
    study.sampler = service.build_sampler(seed)
    gated = budget_mod.BudgetedStudy(study, budget)
    guard = _Guard()

    def run_trial(trial: optuna.Trial) -> float:
        trial.set_user_attr("worker", ident)
        trial.set_user_attr("sampler_seed", seed)
        try:
            return objective(trial)
        except Exception as exc:
            guard.last_error = exc
            raise

    callbacks: list[Any] = [guard]
    if budget is not None:
        callbacks.append(MaxTrialsCallback(budget, states=(TrialState.COMPLETE,
                                                            TrialState.PRUNED)))
    try:
        gated.optimize(run_trial, timeout=timeout, catch=(Exception,), callbacks=callbacks,
                       gc_after_trial=True)
    except budget_mod.BudgetReached:
        pass
    except KeyboardInterrupt:
        _fail_own_trial(gated)
        _say(quiet, f"worker {ident} interrupted; its running trial was marked FAIL")
        return EXIT_INTERRUPTED
    if guard.stopped:
        raise UserError(f"worker stopped after {MAX_FAILURES_IN_A_ROW} failed trials in a row; "
                        f"last error: {type(guard.last_error).__name__}: {guard.last_error}")
    return 0


def _fail_own_trial(study: budget_mod.BudgetedStudy) -> None:
    """Mark this worker's last trial FAIL if it is still RUNNING (interrupted outside objective)."""
    for name in ("SIGINT", "SIGTERM"):  # a second signal must not cut the clean-up short
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    if study.last_trial_id is None:
        return
    try:
        trial = study._storage.get_trial(study.last_trial_id)
        if trial.state == TrialState.RUNNING:
            study._storage.set_trial_state_values(study.last_trial_id, TrialState.FAIL)
    except Exception as exc:  # noqa: BLE001 - the heartbeat grace period fails it instead
        print(f"warning: could not mark trial failed: {exc}", file=sys.stderr)


def _say(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=sys.stderr)
