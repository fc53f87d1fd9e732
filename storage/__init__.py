"""Turning a storage URL into an Optuna storage: SQLite, PostgreSQL, heartbeats, errors.

The service calls `open_storage` (the RDBStorage for a URL; which URL applies is decided by
`study.defaults`); every storage failure reaches users as one password-free `StorageError` line.
What reaches past Optuna's public API lives in `storage.optuna_seam` and is handed on here: other
packages import this front door, never a module behind it.
"""

from __future__ import annotations

from storage.check import format_table, inspect_storage
from storage.errors import StorageError, is_creation_race, one_line
from storage.heartbeats import GRACE_FACTOR, Heartbeat, HeartbeatSettingsError
from storage.optuna_seam import (
    GatedStudy,
    RetryStaleTrialOnce,
    backend_of,
    count_trials,
    error_behind,
    fail_and_requeue,
    fail_if_running,
    fail_stale,
    is_retry_of,
    register_finished_trial_artifact,
    retried_from,
    running_with_heartbeat,
    stale_trial_ids,
    storage_of,
    study_artifacts,
    study_lock,
    tell_was_refused,
    trial_artifacts,
    trial_id,
)
from storage.rdb import open_storage
from storage.url import StorageURL, backend_name, normalize_url, redact_url, scrub

__all__ = [
    "GRACE_FACTOR", "GatedStudy", "Heartbeat", "HeartbeatSettingsError", "RetryStaleTrialOnce",
    "StorageError", "StorageURL", "backend_name", "backend_of", "count_trials", "error_behind",
    "fail_and_requeue", "fail_if_running", "fail_stale", "format_table", "inspect_storage",
    "is_creation_race", "is_retry_of", "normalize_url", "one_line", "open_storage", "redact_url",
    "register_finished_trial_artifact", "retried_from", "running_with_heartbeat",
    "scrub", "stale_trial_ids", "storage_of", "study_artifacts", "study_lock",
    "tell_was_refused", "trial_artifacts", "trial_id",
]
