"""Heartbeats: SQL on Optuna's tables and its private stale-trial query.

The storage API can tell neither which RUNNING trials ever beat nor which are stale without
failing them (`fail_stale_trials` does both at once). `sweeping()` marks the one sweep that may see
stale trials behind a gate (see `storage.optuna_seam.retry.fail_stale`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import optuna
import sqlalchemy

from storage.optuna_seam.ids import backend_of


def running_with_heartbeat(study: optuna.Study) -> int:
    """RUNNING trials of the study that have recorded a heartbeat (alive, or stale and failable)."""
    query = sqlalchemy.text(
        "SELECT COUNT(*) FROM trials JOIN trial_heartbeats "
        "ON trial_heartbeats.trial_id = trials.trial_id "
        "WHERE trials.study_id = :study AND trials.state = 'RUNNING'")
    with backend_of(study).engine.connect() as conn:
        return int(conn.execute(query, {"study": study._study_id}).scalar() or 0)


def adopt_unbeaten(study: optuna.Study) -> list[int]:
    """Record a heartbeat now for each RUNNING trial of the study that never recorded one.

    A new trial beats once its worker's heartbeat thread starts, after sampling, and that can
    never happen: the database stops between the trial's insert and its first beat, the insert's
    answer is lost so the worker never learns the trial exists, or the worker is killed in
    between. Never beating, such a trial would never go stale (Optuna's stale query skips trials
    without a heartbeat) and would hold its place in the budget for good; adopted, it goes stale
    after the grace period unless its worker beats.
    """
    storage = backend_of(study)
    if getattr(storage, "heartbeat_interval", None) is None:  # no heartbeats: nothing goes stale
        return []
    query = sqlalchemy.text(
        "SELECT trials.trial_id FROM trials LEFT JOIN trial_heartbeats "
        "ON trial_heartbeats.trial_id = trials.trial_id "
        "WHERE trials.study_id = :study AND trials.state = 'RUNNING' "
        "AND trial_heartbeats.trial_id IS NULL")
    with storage.engine.connect() as conn:
        unbeaten = [int(row[0]) for row in conn.execute(query, {"study": study._study_id})]
    for storage_id in unbeaten:
        storage.record_heartbeat(storage_id)
    return unbeaten


def stale_trial_ids(study: optuna.Study) -> set[int]:
    """Storage ids of RUNNING trials whose heartbeat is older than the grace period."""
    storage = study._storage
    if getattr(storage, "get_heartbeat_interval", lambda: None)() is None:
        return set()
    with sweeping():
        return set(storage._get_stale_trial_ids(study._study_id))


_sweeping = threading.local()


@contextlib.contextmanager
def sweeping() -> Iterator[None]:
    _sweeping.active = True
    try:
        yield
    finally:
        _sweeping.active = False


def sweep_active() -> bool:
    """True inside `sweeping()` on this thread."""
    return getattr(_sweeping, "active", False)
