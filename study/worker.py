"""One worker process: load the study and its objective once, run trials until the budget is spent.

Trials run through `study.optimize` (so heartbeats and the stale-trial retry work). SIGTERM is
turned into KeyboardInterrupt, which Optuna records as a failed trial; a trial interrupted
outside the objective is failed here, so nothing is left RUNNING.

A database outage (a restarted or briefly unreachable server) does not end the worker: it waits
for the storage with backoff, for at most `STORAGE_OUTAGE_S`, fails and re-queues its own trial
if that was left RUNNING, and goes on. Longer outages end it with one clear error.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

from storage.errors import one_line
from storage.url import scrub
from study import budget as budget_mod
from study import service
from study.options import Settings, UserError, load_objective_factory

MAX_FAILURES_IN_A_ROW = 3  # a worker whose objective keeps failing stops instead of spinning
EXIT_INTERRUPTED = 130
STORAGE_OUTAGE_S = 120.0  # how long a worker waits for a lost storage before giving up
MAX_RECOVERIES = 5  # storage recoveries in a row without a finished trial: something else is wrong


def worker_id(slot: str | None) -> str:
    """Who ran a trial: host (or $STUDY_WORKER_ID), process id and the launcher's slot.

    Containers on host networking all report the host's name and may share process ids, so the
    image sets STUDY_WORKER_ID to its container id.
    """
    base = f"{os.environ.get('STUDY_WORKER_ID') or socket.gethostname()}:{os.getpid()}"
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
    finished: int = 0  # trials this worker finished (complete or pruned)
    requeued: set[int] = field(default_factory=set)  # trials re-queued after a storage outage
    ids: list[int] = field(default_factory=list)

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state == TrialState.FAIL and is_storage_outage(self.last_error):
            # The database failed, not the objective: not held against it, and re-queued.
            requeue(study, trial._trial_id, self.requeued, failed_by_us=True)
            return
        self.failures = self.failures + 1 if trial.state == TrialState.FAIL else 0
        self.finished += trial.state in (TrialState.COMPLETE, TrialState.PRUNED)
        if self.failures >= MAX_FAILURES_IN_A_ROW:
            self.stopped = True
            study.stop()


def is_storage_outage(exc: BaseException | None) -> bool:
    """True for errors of a lost database connection (anywhere in the exception chain)."""
    import sqlalchemy.exc

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError
                      | sqlalchemy.exc.DisconnectionError) or getattr(
                exc, "connection_invalidated", False):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_worker(settings: Settings, *, n_trials: int | None, timeout: float | None,
               slot: str | None = None, quiet: bool = False) -> int:
    """Run trials in this process until the study-wide budget or the timeout; the exit code."""
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _raise_interrupt)
    optuna.logging.set_verbosity(logging.WARNING if quiet else logging.INFO)
    study = service.load(settings.storage_url, settings.study_name,
                         heartbeat_interval=settings.heartbeat_interval,
                         grace_period=settings.heartbeat_grace)
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
                           max_epochs=settings.max_epochs, split=settings.split,
                           search=study.user_attrs.get("search_space"))
    objective = load_objective_factory(settings.objective)(ctx)
    ident = worker_id(slot)
    seed = sampler_seed(settings.seed, ident)
    study.sampler = service.build_sampler(seed)
    deadline = None if timeout is None else time.monotonic() + timeout
    gated = budget_mod.BudgetedStudy(study, budget, deadline)
    guard = _Guard()

    def run_trial(trial: optuna.Trial) -> float:
        guard.last_error = None
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
    recoveries, finished_at_last = 0, 0
    while deadline is None or time.monotonic() < deadline:
        try:
            gated.optimize(run_trial, catch=(Exception,), callbacks=callbacks, gc_after_trial=True,
                           timeout=None if deadline is None else deadline - time.monotonic())
            break
        except budget_mod.BudgetReached:
            break
        except KeyboardInterrupt:
            _fail_own_trial(gated)
            _say(quiet, f"worker {ident} interrupted; its running trial was marked FAIL")
            return EXIT_INTERRUPTED
        except Exception as exc:
            if not (is_storage_outage(exc) or _trial_taken(gated, exc)):
                raise
            recoveries = 1 if guard.finished != finished_at_last else recoveries + 1
            finished_at_last = guard.finished
            if recoveries > MAX_RECOVERIES:
                last = scrub(one_line(exc), settings.storage_url)
                raise UserError(f"worker gave up after {MAX_RECOVERIES} storage errors in a row "
                                f"without finishing a trial; last: {last}") from exc
            _recover(gated, exc, settings.storage_url, guard)
    if guard.stopped:
        raise UserError(f"worker stopped after {MAX_FAILURES_IN_A_ROW} failed trials in a row; "
                        f"last error: {type(guard.last_error).__name__}: {guard.last_error}")
    return 0


def _trial_taken(study: budget_mod.BudgetedStudy, exc: BaseException) -> bool:
    """Our trial was failed by another worker (our heartbeat looked stale): tell was refused."""
    if not isinstance(exc, ValueError) or "Cannot tell a" not in str(exc):
        return False
    return study.last_trial_id is not None and \
        study._storage.get_trial(study.last_trial_id).state == TrialState.FAIL


def requeue(study: optuna.Study, trial_id: int, done: set[int], *,
            failed_by_us: bool = False) -> None:
    """Fail a trial of this worker stranded by a storage outage and re-queue it once.

    The re-queued trial is what the stale-trial check would create after the grace period (the
    storage's RetryHeartbeatStaleTrialCallback links it to the original). `done` holds the
    trials re-queued already; `failed_by_us`: our own tell marked it FAIL (nobody re-queued it).
    """
    if trial_id in done:
        return
    storage = study._storage
    if storage.get_trial(trial_id).state == TrialState.RUNNING:
        try:
            if not storage.set_trial_state_values(trial_id, TrialState.FAIL):
                return
        except optuna.exceptions.UpdateFinishedTrialError:
            return  # another worker failed it as stale just now, and re-queues it
    elif not failed_by_us:
        return  # finished meanwhile: failed as stale (and re-queued) by another worker
    trial = storage.get_trial(trial_id)
    callback = storage.get_heartbeat_stale_trial_callback()
    if trial.state == TrialState.FAIL and callback is not None:
        done.add(trial_id)
        callback(study, trial)


def _recover(study: budget_mod.BudgetedStudy, exc: BaseException, url: str,
             guard: _Guard) -> None:
    """Wait (bounded, with backoff) for the storage, then fail and re-queue our stranded trial."""
    from storage import redact_url

    print(f"warning: storage error ({scrub(one_line(exc), url)}); waiting up to "
          f"{STORAGE_OUTAGE_S:.0f} s for {redact_url(url)}", file=sys.stderr, flush=True)
    deadline = time.monotonic() + STORAGE_OUTAGE_S
    pause = 0.5
    while True:
        try:
            backend = getattr(study._storage, "_backend", study._storage)  # past Optuna's cache
            trial = None if study.last_trial_id is None else \
                backend.get_trial(study.last_trial_id)
            backend.get_study_id_from_name(study.study_name)
            break
        except Exception as error:
            if not is_storage_outage(error):
                raise
            if time.monotonic() + pause > deadline:
                raise UserError(f"lost the storage {redact_url(url)} for more than "
                                f"{STORAGE_OUTAGE_S:.0f} s ({scrub(one_line(error), url)}); "
                                "check the database server and restart the worker") from None
            time.sleep(pause)
            pause = min(pause * 2, 8.0)
    if trial is not None and trial.state == TrialState.RUNNING:
        # Our tell never reached the database. (A FAIL trial was failed by our own tell, and
        # the guard re-queued it, or as stale by another worker, which re-queued it.)
        requeue(study, trial._trial_id, guard.requeued)
    print(f"storage {redact_url(url)} answers again; going on", file=sys.stderr, flush=True)


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
