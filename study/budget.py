"""The study-wide trial budget: `--n-trials N` finished trials across all workers, exactly.

`MaxTrialsCallback` alone stops a worker only after its trial finished, so workers that start at
the same moment overshoot. Here every `ask` of a worker runs under a lock shared by all workers
of the study (a PostgreSQL advisory lock, a file lock next to an SQLite file, MySQL GET_LOCK):
it counts finished (COMPLETE, PRUNED) plus RUNNING trials and starts a trial only while that sum
is below the budget. A trial that fails frees its place; no trial is ever started beyond it.

When the rest of the budget is held by RUNNING trials, a worker waits instead of leaving: one of
those trials may still fail, or belong to a killed worker (its heartbeat goes stale, the wait
fails it and re-queues it, and this worker runs the retry). The wait ends when the budget is
finished, a place frees up, or the worker's deadline passes.
"""

from __future__ import annotations

import contextlib
import time
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path

import optuna
import sqlalchemy
from optuna.trial import TrialState

COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
MAX_POLL_S = 5.0  # how often a waiting worker looks at the RUNNING trials


class BudgetReached(Exception):
    """Raised from `ask` when the study's budget is used up; the worker then stops."""


def _lock_key(study_name: str) -> int:
    # A signed 64-bit key for pg_advisory_lock, stable across processes and hosts.
    return (0x5245434C << 32 | zlib.crc32(study_name.encode())) - (1 << 63)


@contextlib.contextmanager
def study_lock(storage: optuna.storages.BaseStorage, study_name: str) -> Iterator[None]:
    """A lock held by one process of the study at a time (released if the process dies)."""
    engine = getattr(storage, "_backend", storage).engine  # Study wraps RDBStorage in a cache
    backend = engine.dialect.name
    if backend == "postgresql":
        with engine.connect() as conn:
            key = _lock_key(study_name)
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            try:
                yield
            finally:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
    elif backend == "mysql":
        with engine.connect() as conn:
            name = f"optuna-budget-{zlib.crc32(study_name.encode())}"
            conn.execute(sqlalchemy.text("SELECT GET_LOCK(:n, -1)"), {"n": name})
            try:
                yield
            finally:
                conn.execute(sqlalchemy.text("SELECT RELEASE_LOCK(:n)"), {"n": name})
    elif backend == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        with _file_lock(Path(engine.url.database + ".budget.lock")):
            yield
    else:  # in-memory or unknown backends: one process, nothing to coordinate
        yield


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: SQLite there serves one worker anyway
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def used(study: optuna.Study) -> int:
    """Finished (complete or pruned) plus running trials: what counts against the budget."""
    return study._storage.get_n_trials(study._study_id, state=COUNTED)


def n_finished(study: optuna.Study) -> int:
    return study._storage.get_n_trials(study._study_id,
                                       state=(TrialState.COMPLETE, TrialState.PRUNED))


def running_with_heartbeat(study: optuna.Study) -> int:
    """RUNNING trials of the study that have recorded a heartbeat (alive, or stale and failable)."""
    engine = getattr(study._storage, "_backend", study._storage).engine
    query = sqlalchemy.text(
        "SELECT COUNT(*) FROM trials JOIN trial_heartbeats "
        "ON trial_heartbeats.trial_id = trials.trial_id "
        "WHERE trials.study_id = :study AND trials.state = 'RUNNING'")
    with engine.connect() as conn:
        return int(conn.execute(query, {"study": study._study_id}).scalar() or 0)


def fail_stale(study: optuna.Study) -> None:
    """Fail (and re-queue, via the storage's retry callback) trials whose heartbeat is stale."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


class BudgetedStudy(optuna.Study):
    """A study whose `ask` refuses to start a trial beyond the study-wide budget.

    `study.optimize` asks through `self.ask`, so heartbeats, pruning and callbacks are Optuna's.
    `last_trial_id` lets the worker fail its own trial if it is interrupted outside the objective.
    `deadline` (a `time.monotonic()` value) bounds the wait for other workers' RUNNING trials.
    """

    def __init__(self, study: optuna.Study, budget: int | None,
                 deadline: float | None = None) -> None:
        super().__init__(study.study_name, study._storage, study.sampler, study.pruner)
        self.budget = budget
        self.deadline = deadline
        self.last_trial_id: int | None = None

    def ask(self, fixed_distributions=None):  # type: ignore[no-untyped-def]
        if self.budget is None:
            trial = super().ask(fixed_distributions)
        else:
            trial = self._ask_within_budget(fixed_distributions)
        self.last_trial_id = trial._trial_id
        return trial

    def _ask_within_budget(self, fixed_distributions):  # type: ignore[no-untyped-def]
        interval = getattr(self._storage, "get_heartbeat_interval", lambda: None)()
        poll = min(MAX_POLL_S, max(0.5, (interval or MAX_POLL_S) / 2))
        unbeating = 0
        while True:
            with study_lock(self._storage, self.study_name):
                if n_finished(self) >= self.budget:
                    raise BudgetReached
                if used(self) < self.budget:
                    return super().ask(fixed_distributions)
            # RUNNING trials without any heartbeat (ask/tell by hand) never go stale: twice in a
            # row (a new trial beats at once) means there is nothing worth waiting for.
            unbeating = unbeating + 1 if running_with_heartbeat(self) == 0 else 0
            if interval is None or unbeating >= 2 or (
                    self.deadline is not None and time.monotonic() + poll > self.deadline):
                raise BudgetReached
            time.sleep(poll)
            fail_stale(self)
