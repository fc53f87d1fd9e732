"""Everything that reaches past Optuna's (and optuna-dashboard's) public API, in one module.

Each item says why the public API is not enough. `tests/storage/test_optuna_internals.py` holds one
contract test per item against the installed versions, so an upgrade that breaks one fails there,
first and nowhere else. Nothing else in the project names Optuna's private attributes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import threading
import warnings
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from optuna.trial import FrozenTrial, TrialState

_logger = logging.getLogger("storage.rdb")  # where users have seen the heartbeat warnings

# --- 1. ids and the storage behind a Study -------------------------------------------------
# A Study hides its storage and study id, a trial its storage id; the storage API (counts,
# system attributes, state changes) is keyed by them.


def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage a Study talks to (for an RDBStorage: Optuna's caching wrapper around it)."""
    return study._storage


def backend_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage without Optuna's cache: reads that must see the database as it is now."""
    storage = study._storage
    return getattr(storage, "_backend", storage)


def study_id(study: optuna.Study) -> int:
    return study._study_id


def trial_id(trial: FrozenTrial | optuna.Trial) -> int:
    return trial._trial_id


def count_trials(study: optuna.Study, states: tuple[TrialState, ...]) -> int:
    """Trials of the study in `states`, counted by the database (no trial is loaded)."""
    return study._storage.get_n_trials(study._study_id, state=states)


# --- 2. a lock shared by every worker of a study -------------------------------------------
# Optuna has no cross-process lock; the budget and the stale-trial retry need one. PostgreSQL:
# an advisory lock, MySQL: GET_LOCK, SQLite: a file lock beside the database file.


def _lock_key(study_name: str) -> int:
    # A signed 64-bit key for pg_advisory_lock, stable across processes and hosts.
    return (0x5245434C << 32 | zlib.crc32(study_name.encode())) - (1 << 63)


_held = threading.local()  # the study locks this thread holds


@contextlib.contextmanager
def study_lock(study: optuna.Study) -> Iterator[None]:
    """Held by one process of the study at a time; released if the process dies. Re-entrant:
    the stale-trial sweep holds it and calls the retry callback, which takes it too."""
    key = (str(backend_of(study).engine.url), study.study_name)
    held = _held.__dict__.setdefault("keys", set())
    if key in held:
        yield
        return
    held.add(key)
    try:
        with _cross_process_lock(study):
            yield
    finally:
        held.discard(key)


@contextlib.contextmanager
def _cross_process_lock(study: optuna.Study) -> Iterator[None]:
    engine = backend_of(study).engine
    backend, name = engine.dialect.name, study.study_name
    if backend == "postgresql":
        with engine.connect() as conn:
            key = _lock_key(name)
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            try:
                yield
            finally:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
    elif backend == "mysql":
        with engine.connect() as conn:
            lock = f"optuna-budget-{zlib.crc32(name.encode())}"
            conn.execute(sqlalchemy.text("SELECT GET_LOCK(:n, -1)"), {"n": lock})
            try:
                yield
            finally:
                conn.execute(sqlalchemy.text("SELECT RELEASE_LOCK(:n)"), {"n": lock})
    elif backend == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        with open(Path(engine.url.database + ".budget.lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    else:  # in-memory: one process, nothing to coordinate
        yield


# --- 3. heartbeats: SQL on Optuna's tables and its private stale-trial query ----------------
# The storage API can tell neither which RUNNING trials ever beat nor which are stale without
# failing them (`fail_stale_trials` does both at once).


def running_with_heartbeat(study: optuna.Study) -> int:
    """RUNNING trials of the study that have recorded a heartbeat (alive, or stale and failable)."""
    query = sqlalchemy.text(
        "SELECT COUNT(*) FROM trials JOIN trial_heartbeats "
        "ON trial_heartbeats.trial_id = trials.trial_id "
        "WHERE trials.study_id = :study AND trials.state = 'RUNNING'")
    with backend_of(study).engine.connect() as conn:
        return int(conn.execute(query, {"study": study._study_id}).scalar() or 0)


def stale_trial_ids(study: optuna.Study) -> set[int]:
    """Storage ids of RUNNING trials whose heartbeat is older than the grace period."""
    storage = study._storage
    if getattr(storage, "get_heartbeat_interval", lambda: None)() is None:
        return set()
    with _sweep():
        return set(storage._get_stale_trial_ids(study._study_id))


# --- 4. stale trials retried exactly once --------------------------------------------------
# Optuna's `fail_stale_trials` runs at the start of every trial of every worker, outside any
# lock. On SQLite two workers can both fail the same stale trial (no row lock), and each then
# runs the retry callback: two retries of one trial. The callback below re-queues under the
# study lock, and only if no retry of that trial exists yet; `fail_stale` runs the whole sweep
# under that lock, so no budget gate counts between a trial's FAIL and its retry.


_sweeping = threading.local()


@contextlib.contextmanager
def _sweep() -> Iterator[None]:
    _sweeping.active = True
    try:
        yield
    finally:
        _sweeping.active = False


def fail_stale(study: optuna.Study) -> None:
    """Fail the study's stale trials and re-queue each once, all under the study lock.

    Optuna sweeps before every ask of `optimize` too, but outside any lock: between its FAIL and
    its re-queue another worker's budget gate sees a free place and starts a new trial, and the
    retry, queued a moment later, waits beyond the budget for good. `ResilientRDBStorage` shows
    stale trials to this sweep only, and the gates run it under the lock they count under.
    """
    with study_lock(study), _sweep(), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def is_retry_of(trial: FrozenTrial, original_number: int) -> bool:
    """`trial` re-runs `original_number` itself (the last of its retry history)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        history = optuna.storages.RetryHeartbeatStaleTrialCallback.retry_history(trial)
    return bool(history) and history[-1] == original_number


def retried_from(trial: FrozenTrial) -> int | None:
    """The number of the first failed trial of the series `trial` retries; None if no retry."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(trial)


class RetryStaleTrialOnce:
    """`RetryHeartbeatStaleTrialCallback` that never re-queues one failed trial twice."""

    def __init__(self, max_retry: int | None) -> None:
        self.max_retry = max_retry
        self._retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        with study_lock(study):
            trials = backend_of(study).get_all_trials(study._study_id, deepcopy=False)
            if not any(is_retry_of(other, trial.number) for other in trials):
                self._retry(study, trial)


def fail_and_requeue(study: optuna.Study, storage_id: int, *,
                     already_failed: bool = False) -> None:
    """Fail a RUNNING trial of this worker (stranded by a storage outage) and re-queue it once.

    `already_failed`: our own tell marked it FAIL, so only the re-queue is missing. A trial that
    finished meanwhile (another worker failed it as stale, and re-queued it) is left alone.
    """
    storage = backend_of(study)
    with study_lock(study):  # failed and re-queued in one step, as in `fail_stale`
        if storage.get_trial(storage_id).state == TrialState.RUNNING:
            try:
                if not storage.set_trial_state_values(storage_id, TrialState.FAIL):
                    return
            except optuna.exceptions.UpdateFinishedTrialError:
                return  # failed as stale by another worker just now, which re-queues it
        elif not already_failed:
            return
        trial = storage.get_trial(storage_id)
        callback = storage.get_heartbeat_stale_trial_callback()
        if trial.state == TrialState.FAIL and callback is not None:
            with warnings.catch_warnings():  # Optuna's retry history is "experimental"
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                callback(study, trial)


def fail_if_running(study: optuna.Study, storage_id: int) -> bool:
    """Mark a trial FAIL if it is still RUNNING; True if this call did."""
    storage = backend_of(study)
    if storage.get_trial(storage_id).state != TrialState.RUNNING:
        return False
    try:
        return bool(storage.set_trial_state_values(storage_id, TrialState.FAIL))
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def tell_was_refused(exc: BaseException) -> bool:
    """Optuna refused our tell because the trial is finished already (another worker failed our
    trial as stale after a pause): recognised by Optuna's message, which no exception type marks."""
    return isinstance(exc, ValueError) and "Cannot tell a" in str(exc)


def error_behind(exc: BaseException) -> BaseException:
    """The error that really happened. When the storage fails inside Optuna's `_run_trial` while
    telling, Optuna's own clean-up raises over it, the database error being its context: an
    UnboundLocalError (`updated_state`) when the database is still away, or its `assert False,
    "Should not reach."` when the database answers again by then (the trial is still RUNNING)."""
    if exc.__context__ is not None and (isinstance(exc, UnboundLocalError) or (
            isinstance(exc, AssertionError) and str(exc).startswith("Should not reach"))):
        return exc.__context__
    return exc


# --- 5. asks that pass a gate first --------------------------------------------------------
# `Study.optimize` (the only path with heartbeats) asks for trials through `self.ask`; a
# subclass is the one way to decide, per ask, whether a trial may start.


class GatedStudy(optuna.Study):
    """The same study, with `gate(ask)` deciding whether and when `ask()` runs.

    `last_trial_id` is the storage id of the trial this process asked for last.
    """

    def __init__(self, study: optuna.Study,
                 gate: Callable[[GatedStudy, Callable[[], optuna.Trial]], optuna.Trial]) -> None:
        super().__init__(study.study_name, study._storage, study.sampler, study.pruner)
        self._gate = gate
        backend = backend_of(study)
        if isinstance(backend, ResilientRDBStorage):
            backend.sweeps_under_lock_only = True  # the gate sweeps (see `fail_stale`)
        self.last_trial_id: int | None = None

    def ask(self, fixed_distributions=None):  # type: ignore[no-untyped-def]
        trial = self._gate(self, lambda: super(GatedStudy, self).ask(fixed_distributions))
        self.last_trial_id = trial._trial_id
        return trial


# --- 6. heartbeats that survive a database outage ----------------------------------------
# Optuna records heartbeats from a thread that ends at its first exception, so a restarted
# server would silence a live trial for good and another worker would fail it as stale; and a
# trial taken from the queue beats only once its objective starts. A subclass of RDBStorage
# overriding its storage methods is the one way to change either.


class ResilientRDBStorage(optuna.storages.RDBStorage):
    """RDBStorage whose heartbeat survives an outage and starts with the trial.

    A failed heartbeat is logged and the next one tries again (pre-ping gives it a new
    connection). A new RUNNING trial records its first heartbeat at once: if the worker dies
    (or loses the database) before its objective starts, the trial still goes stale.
    """

    def create_new_trial(self, study_id: int, template_trial: Any = None) -> int:
        trial_id = super().create_new_trial(study_id, template_trial)
        if template_trial is None or template_trial.state == TrialState.RUNNING:
            self._first_heartbeat(trial_id)
        return trial_id

    def set_trial_state_values(self, trial_id: int, state: Any, values: Any = None) -> bool:
        changed = super().set_trial_state_values(trial_id, state, values)
        if changed and state == TrialState.RUNNING:  # a WAITING trial was taken
            self._first_heartbeat(trial_id)
        return changed

    sweeps_under_lock_only = False  # set by a GatedStudy, whose gate sweeps under its lock

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        # Behind a gate only `fail_stale` (under the study lock) and `stale_trial_ids` see stale
        # trials; the unlocked sweep Optuna runs before each ask finds none (see `fail_stale`).
        if self.sweeps_under_lock_only and not getattr(_sweeping, "active", False):
            return []
        return super()._get_stale_trial_ids(study_id)

    def _first_heartbeat(self, trial_id: int) -> None:
        if self.heartbeat_interval is not None:
            self.record_heartbeat(trial_id)

    def record_heartbeat(self, trial_id: int) -> None:
        from storage.errors import StorageError, one_line

        try:
            super().record_heartbeat(trial_id)
        except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError,
                StorageError) as exc:
            _logger.warning("heartbeat of trial id %s not recorded (%s); retrying in %s s",
                            trial_id, one_line(exc), self.heartbeat_interval)


# --- 7. artifacts: system-attribute keys of Optuna and optuna-dashboard ----------------------
# Optuna lists no artifacts of a study or trial; it records each as a system attribute
# "artifacts:<id>". A finished trial's attributes are read-only, so its artifacts are registered
# where optuna-dashboard also looks: the study system attribute "dashboard:artifacts:<trial_id>:<id>".
_ARTIFACT_PREFIX = "artifacts:"
_DASHBOARD_TRIAL_PREFIX = "dashboard:artifacts:"


def _artifact_ids(system_attrs: Mapping[str, object]) -> dict[str, str]:
    """filename → artifact id; entries the dashboard deleted (stored as JSON null) are skipped."""
    found = {}
    for key, raw in system_attrs.items():
        if not key.startswith(_ARTIFACT_PREFIX) or not isinstance(raw, str):
            continue
        meta = json.loads(raw)
        if isinstance(meta, dict) and "filename" in meta:
            found[meta["filename"]] = meta["artifact_id"]
    return found


def study_artifacts(study: optuna.Study) -> dict[str, str]:
    return _artifact_ids(study._storage.get_study_system_attrs(study._study_id))


def trial_artifacts(study: optuna.Study, trial: FrozenTrial) -> dict[str, str]:
    study_attrs = study._storage.get_study_system_attrs(study._study_id)
    prefix = f"{_DASHBOARD_TRIAL_PREFIX}{trial._trial_id}:"
    found = _artifact_ids({_ARTIFACT_PREFIX + key[len(prefix):]: value
                           for key, value in study_attrs.items() if key.startswith(prefix)})
    found.update(_artifact_ids(study._storage.get_trial_system_attrs(trial._trial_id)))
    return found


def register_finished_trial_artifact(study: optuna.Study, trial: FrozenTrial,
                                     meta: Mapping[str, Any]) -> None:
    """Record an artifact (already written to the store) of a finished trial for the dashboard."""
    study._storage.set_study_system_attr(
        study._study_id, f"{_DASHBOARD_TRIAL_PREFIX}{trial._trial_id}:{meta['artifact_id']}",
        json.dumps(dict(meta)))


# --- 8. a finished trial's record of a model that was removed -----------------------------
# Optuna makes a finished trial's attributes read-only, and neither it nor optuna-dashboard can
# forget an artifact of one: the dashboard keeps listing it, and answers 500 (`ArtifactNotFound`)
# for its link once the file is gone. The service removes models that fall out of the best k
# after their trials finished, so it rewrites those trials' rows itself: the artifact's record
# (trial system attribute "artifacts:<id>", or the dashboard's study attribute) is deleted and
# the user attributes that named the model are replaced. RDB storages only: the service opens
# no other (`storage.open_storage`).


def forget_trial_model(study: optuna.Study, storage_id: int, artifact_id: str,
                       user_attrs: Mapping[str, Any], drop_user_attrs: tuple[str, ...] = ()
                       ) -> None:
    """Delete the artifact record `artifact_id` of trial `storage_id` (in any state), set
    `user_attrs` and delete `drop_user_attrs`, in one transaction."""
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    backend = backend_of(study)
    with _create_scoped_session(backend.scoped_session, True) as session:
        session.query(models.TrialSystemAttributeModel).filter_by(
            trial_id=storage_id, key=_ARTIFACT_PREFIX + artifact_id).delete()
        session.query(models.StudySystemAttributeModel).filter_by(
            study_id=study._study_id,
            key=f"{_DASHBOARD_TRIAL_PREFIX}{storage_id}:{artifact_id}").delete()
        user = models.TrialUserAttributeModel
        session.query(user).filter(user.trial_id == storage_id,
                                   user.key.in_([*user_attrs, *drop_user_attrs])).delete()
        session.add_all(user(trial_id=storage_id, key=key, value_json=json.dumps(value))
                        for key, value in user_attrs.items())
