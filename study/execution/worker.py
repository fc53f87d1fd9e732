"""One worker process: open the study and build its objective once, then serve both phases.

Phase 1 runs search trials until the study's budget is finished; phase 2 runs the study's
replicates (`study.replicates`), planned once by whichever worker finishes the search first.
Both run through `study.optimize`, so heartbeats, the stale-trial retry and the exact budget work
the same way in each. The first Ctrl-C or SIGTERM becomes KeyboardInterrupt, which Optuna records
as a failed trial; a trial interrupted outside the objective is failed here, so nothing is left
RUNNING, and a planned one (a replicate, the λ = 0 baseline, a retry) is queued again.

A database outage (a restarted or briefly unreachable server) does not end the worker: it waits
for the storage with backoff, for at most `storage_outage_s`, fails and re-queues its own trial if
that was left RUNNING, and goes on. Longer outages end it with one clear error.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

from storage import (
    GatedStudy,
    backend_of,
    error_behind,
    fail_and_requeue,
    fail_if_running,
    one_line,
    retried_from,
    scrub,
    tell_was_refused,
    trial_id,
)
from study import service
from study.defaults import STORAGE_OUTAGE_ENV
from study.errors import UserError
from study.execution.signals import (
    configure_logging,
    interrupt_seen,
    raise_interrupt,
    watch_parent,
)
from study.gate import PhaseDone
from study.model_store import TrialModels, kept_models
from study.replicates import plan as replicate_plan
from study.replicates import runs as replicate_runs
from study.replicates.rounds import plan_next_round
from study.search import budget as budget_mod
from study.search.sampler import TrialSeededSampler, trial_seed
from study.trials import FINISHED, n_finished

MAX_FAILURES_IN_A_ROW = 3  # a worker whose objective keeps failing stops instead of spinning
MAX_RECOVERIES = 5  # storage recoveries in a row without a finished trial: something else is wrong


@dataclass(frozen=True)
class WorkerOptions:
    url: str
    study: str
    cache_dir: Path
    model_dir: Path
    heartbeat: service.Heartbeat
    storage_outage_s: float
    artifacts: str | None = None  # --artifacts; else STUDY_ARTIFACTS, the study's, the default
    n_trials: int | None = None  # this worker's stop condition; default: the study's budget
    timeout: float | None = None
    slot: str | None = None  # set by the launcher: "cpu.0", "cuda1.0"
    device: str | None = None  # None: the slot's (cpu or cuda), else auto
    host: str | None = None  # $STUDY_WORKER_ID (a container's id), else the host name
    threads: int = 1
    mock_delay: float = 0.0
    quiet: bool = False
    search: bool = True  # phase 1
    replicate: bool = True  # phase 2 (when the study plans replicates)
    watch_parent: bool = False  # stop when the launcher that started us dies
    debug: bool = False  # keep the tracebacks of interrupted trials in Optuna's log


def worker_id(options: WorkerOptions) -> str:
    """Who ran a trial: host (or $STUDY_WORKER_ID), process id and the launcher's slot."""
    base = f"{options.host or socket.gethostname()}:{os.getpid()}"
    return f"{base}:{options.slot}" if options.slot else base


@dataclass
class _Guard:
    """Stops the worker after too many failed trials in a row, remembering the last error."""

    failures: int = 0
    last_error: BaseException | None = None
    stopped: bool = False
    finished: int = 0  # trials this worker finished (complete or pruned)
    requeued: set[int] = field(default_factory=set)  # trials re-queued after a storage outage
    retry_failures: bool = False  # replicates: a failed run is re-queued (a planned slot)
    interrupted: int | None = None  # the trial an interrupt cut off inside the objective

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        failed = trial.state == TrialState.FAIL
        if failed and is_storage_outage(self.last_error):
            # The database failed, not the objective: not held against it, and re-queued.
            self.requeue(study, trial_id(trial), already_failed=True)
            return
        if failed and self.retry_failures:
            self.requeue(study, trial_id(trial), already_failed=True)
        self.failures = self.failures + 1 if failed else 0
        self.finished += trial.state in FINISHED
        if self.failures >= MAX_FAILURES_IN_A_ROW:
            self.stopped = True
            study.stop()

    def requeue(self, study: optuna.Study, storage_id: int, *, already_failed: bool) -> None:
        if storage_id not in self.requeued:
            self.requeued.add(storage_id)
            fail_and_requeue(study, storage_id, already_failed=already_failed)


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


def run_worker(options: WorkerOptions) -> int:
    """Serve the study's phases in this process until done or the timeout; the exit code."""
    interrupt_seen.clear()
    names = [name for name in ("SIGINT", "SIGTERM") if hasattr(signal, name)]
    previous = {name: signal.signal(getattr(signal, name), raise_interrupt) for name in names}
    try:
        if options.watch_parent:
            watch_parent()
        configure_logging(options.quiet, options.debug)
        loaded = service.open_study(options.url, options.study, heartbeat=options.heartbeat)
        deadline = None if options.timeout is None else time.monotonic() + options.timeout
        worker = _Worker(options, loaded, deadline)
        if options.search:
            worker.search()
        if options.replicate and worker.may_replicate():
            worker.replicates()
        return 0
    finally:
        for name, handler in previous.items():
            signal.signal(getattr(signal, name), handler)


class _Worker:
    def __init__(self, options: WorkerOptions, loaded: service.LoadedStudy,
                 deadline: float | None) -> None:
        self.options, self.loaded, self.deadline = options, loaded, deadline
        self.ident = worker_id(options)
        self._objective: Any = None
        self.models = TrialModels.for_study(loaded.study, options.model_dir, options.artifacts)

    def say(self, message: str) -> None:
        if not self.options.quiet:
            print(message, file=sys.stderr)

    @property
    def objective(self) -> Any:
        """Built on first use: a worker with nothing left to do loads no data."""
        if self._objective is None:
            from study.execution.objective_factory import build_objective

            self._objective = build_objective(self.loaded, self.options)
        return self._objective

    def search(self) -> None:
        study, experiment = self.loaded.study, self.loaded.experiment
        budget = self.options.n_trials if self.options.n_trials is not None \
            else experiment.n_trials
        if budget is not None and n_finished(study) >= budget:
            self.say(f"study {study.study_name!r} already has {budget} finished trials; "
                     "raise --n-trials to run more")
            return
        study.sampler = TrialSeededSampler(experiment.seed)
        _ = self.objective  # built before the first trial: a bad factory or data fails no trial

        def run_trial(trial: optuna.Trial) -> float:
            trial.set_user_attr("worker", self.ident)
            trial.set_user_attr("sampler_seed", trial_seed(experiment.seed, trial.number))
            return self.models.search_trial(trial, self.objective)  # the best k models kept

        gated = budget_mod.budgeted(study, budget, self.deadline, self.options.heartbeat.interval)
        self._serve(gated, run_trial, budget, _Guard())

    def may_replicate(self) -> bool:
        """Phase 2 starts once the search budget is finished (by any worker)."""
        # Read again: another command may have extended the budget or the replicates meanwhile.
        experiment = service.read_experiment(self.loaded.study.user_attrs)
        self.loaded = dataclasses.replace(self.loaded, experiment=experiment)
        return (experiment.replicates.seeds > 0 and experiment.n_trials is not None
                and n_finished(self.loaded.study) >= experiment.n_trials)

    def replicates(self) -> None:
        """Serve the plan's rounds until the phase is done: after each round, the first worker
        to find it finished plans the next (or ends the phase); the others serve it."""
        phase = replicate_plan.ensure_planned(self.loaded, log=self.say)
        if phase is None:
            return
        done, planned = replicate_runs.replicate_counts(phase.study)
        if done < planned:
            self.say(f"replicates: {planned - done} of {planned} planned runs left, of trial "
                     f"{phase.plan.source_trial}'s configuration")
        while True:
            self._serve_round(phase)
            if self.deadline is not None and time.monotonic() >= self.deadline:
                return
            if not plan_next_round(self.loaded, log=self.say, on_done=self._keep_winner):
                return
            phase = replicate_plan.ensure_planned(self.loaded, log=self.say)

    def _keep_winner(self, companion: optuna.Study, plan: Any, winner: str | None) -> None:
        """The phase is done: of the replicate runs' models only the winner's stays."""
        arm = f"{plan.source_trial}:{winner}"
        keep = [k.trial for k in kept_models(companion) if k.arm == arm]
        self.models.keep_models(companion, keep)

    def _serve_round(self, phase: replicate_plan.ReplicatePhase) -> None:
        done, planned = replicate_runs.replicate_counts(phase.study)
        if done >= planned:
            return
        _ = self.objective  # built before the first trial: a bad factory or data fails no trial

        def run_replicate(trial: optuna.Trial) -> float:
            trial.set_user_attr("worker", self.ident)
            return replicate_runs.run_replicate(self.objective, trial,
                                                self.loaded.experiment.search, self.models)

        gated = replicate_runs.planned_only(phase, self.deadline, self.options.heartbeat.interval)
        self._serve(gated, run_replicate, phase.budget, _Guard(retry_failures=True))

    def _serve(self, gated: GatedStudy, run: Callable[[optuna.Trial], float],
               budget: int | None, guard: _Guard) -> None:
        """`optimize` until the budget is finished, riding out storage outages."""
        def run_trial(trial: optuna.Trial) -> float:
            guard.last_error = None
            try:
                return run(trial)
            except KeyboardInterrupt:
                guard.interrupted = trial_id(trial)
                raise
            except SystemExit as exc:
                # A library ending training with sys.exit (Lightning does on Ctrl-C) would
                # leave the trial RUNNING: Optuna records only exceptions and interrupts.
                guard.interrupted = trial_id(trial)
                raise KeyboardInterrupt(f"training exited ({exc.code})") from exc
            except Exception as exc:
                guard.last_error = exc
                raise

        callbacks: list[Any] = [guard]
        if budget is not None:
            callbacks.append(MaxTrialsCallback(budget, states=FINISHED))
        # A trained model, its trainer and their cycles are freed before the next trial; an
        # objective with nothing to free (the mock) says so and skips the full collection.
        collect = bool(getattr(self.objective, "gc_after_trial", True))
        recoveries, finished_at_last = 0, 0
        while self.deadline is None or time.monotonic() < self.deadline:
            try:
                remaining = None if self.deadline is None else self.deadline - time.monotonic()
                gated.optimize(run_trial, catch=(Exception,), callbacks=callbacks,
                               gc_after_trial=collect, timeout=remaining)
                break
            except PhaseDone:
                break
            except KeyboardInterrupt:
                self._interrupted(gated, guard)
                raise
            except Exception as exc:
                if not (is_storage_outage(exc) or self._trial_taken(gated, exc)):
                    raise
                recoveries = 1 if guard.finished != finished_at_last else recoveries + 1
                finished_at_last = guard.finished
                if recoveries > MAX_RECOVERIES:
                    last = scrub(one_line(error_behind(exc)), self.options.url)
                    raise UserError(f"worker gave up after {MAX_RECOVERIES} storage errors in a "
                                    f"row without finishing a trial; last: {last}") from exc
                self._recover(gated, exc, guard)
        if guard.stopped:
            error = guard.last_error
            raise UserError(f"worker stopped after {MAX_FAILURES_IN_A_ROW} failed trials in a "
                            f"row; last error: {type(error).__name__}: {error}")

    def _trial_taken(self, gated: GatedStudy, exc: BaseException) -> bool:
        """Our trial was failed by another worker (our heartbeat looked stale): tell refused."""
        return tell_was_refused(exc) and gated.last_trial_id is not None and \
            backend_of(gated).get_trial(gated.last_trial_id).state == TrialState.FAIL

    def _recover(self, gated: GatedStudy, exc: BaseException, guard: _Guard) -> None:
        """Wait (bounded, with backoff) for the storage, then re-queue our stranded trial."""
        from storage import redact_url

        url, limit = self.options.url, self.options.storage_outage_s
        where = redact_url(url)
        if self._trial_taken(gated, exc):
            print(f"warning: trial id {gated.last_trial_id} was failed by another worker while "
                  "this one was paused (its heartbeat looked stale) and is being re-run there; "
                  "going on", file=sys.stderr, flush=True)
            return
        print(f"warning: storage error ({scrub(one_line(error_behind(exc)), url)}); waiting up "
              f"to {limit:.0f} s for {where}", file=sys.stderr, flush=True)
        deadline, pause = time.monotonic() + limit, 0.5
        while True:
            try:
                backend = backend_of(gated)  # past Optuna's cache: what the database says now
                trial = None if gated.last_trial_id is None else \
                    backend.get_trial(gated.last_trial_id)
                backend.get_study_id_from_name(gated.study_name)
                break
            except Exception as error:
                if not is_storage_outage(error):
                    raise
                if time.monotonic() + pause > deadline:
                    raise UserError(
                        f"lost the storage {where} for more than {limit:.0f} s "
                        f"({scrub(one_line(error_behind(error)), url)}); check the database "
                        "server and restart the worker (or raise --storage-outage / "
                        f"{STORAGE_OUTAGE_ENV})") from None
                time.sleep(pause)
                pause = min(pause * 2, 8.0)
        if trial is not None and trial.state == TrialState.RUNNING:
            # Our tell never reached the database. (A FAIL trial was failed by our own tell, and
            # the guard re-queued it, or as stale by another worker, which re-queued it.)
            guard.requeue(gated, trial_id(trial), already_failed=False)
        print(f"storage {where} answers again; going on", file=sys.stderr, flush=True)

    def _interrupted(self, gated: GatedStudy, guard: _Guard) -> None:
        """Mark this worker's trial FAIL if still RUNNING (interrupted outside the objective); a
        planned one (a replicate, the λ = 0 baseline, a retry) goes back to the queue."""
        for name in ("SIGINT", "SIGTERM"):  # a second signal must not cut the clean-up short
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_IGN)
        last = gated.last_trial_id
        if last is not None:
            try:
                cut = fail_if_running(gated, last) or guard.interrupted == last
                if cut and self._planned(gated, last, guard):
                    guard.requeue(gated, last, already_failed=True)
            except Exception as exc:  # noqa: BLE001 - the heartbeat grace period fails it instead
                print(f"warning: could not mark trial failed: {one_line(exc)}", file=sys.stderr)
        self.say(f"worker {self.ident} interrupted; its running trial was marked FAIL")

    @staticmethod
    def _planned(gated: GatedStudy, storage_id: int, guard: _Guard) -> bool:
        """A trial the study asked for by name: an interrupt must not lose it (a sampled one is
        simply sampled again)."""
        if guard.retry_failures:
            return True
        trial = backend_of(gated).get_trial(storage_id)
        return bool(trial.user_attrs.get(service.BASELINE_ATTR)) or retried_from(trial) is not None
