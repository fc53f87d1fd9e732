"""`open_storage`: the Optuna RDBStorage for a URL, tuned per backend, with heartbeats and retry."""

from __future__ import annotations

import logging
import os
import sqlite3
import warnings
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy.engine
import sqlalchemy.exc

from storage.errors import STORAGE_ERRORS, StorageError, driver_error, one_line, translate
from storage.url import SUPPORTED, backend_of, normalize_url, redact_url

SQLITE_LOCK_TIMEOUT_S = 60  # how long a writer waits for another process's lock
CONNECT_TIMEOUT_S = 10  # an unreachable server fails after this, not after minutes
POOL_RECYCLE_S = 1800  # below common firewall/NAT idle cut-offs
HEARTBEAT_INTERVAL_S = 30  # default seconds between a running trial's heartbeats
GRACE_FACTOR = 4  # default grace period = 4 heartbeat intervals
_logger = logging.getLogger(__name__)


class ResilientRDBStorage(optuna.storages.RDBStorage):
    """RDBStorage whose heartbeat survives a database outage.

    Optuna records heartbeats from a thread that ends at its first exception, so a restarted
    server would silence a live trial for good and another worker would fail it as stale. Here a
    failed heartbeat is logged and the next one tries again (pre-ping gives it a new connection).
    A new RUNNING trial records its first heartbeat at once (see `_first_heartbeat`).
    """

    def create_new_trial(self, study_id: int, template_trial: Any = None) -> int:
        trial_id = super().create_new_trial(study_id, template_trial)
        if template_trial is None or template_trial.state == optuna.trial.TrialState.RUNNING:
            self._first_heartbeat(trial_id)
        return trial_id

    def set_trial_state_values(self, trial_id: int, state: Any, values: Any = None) -> bool:
        changed = super().set_trial_state_values(trial_id, state, values)
        if changed and state == optuna.trial.TrialState.RUNNING:  # a WAITING trial was taken
            self._first_heartbeat(trial_id)
        return changed

    def _first_heartbeat(self, trial_id: int) -> None:
        # A trial beats from its birth, not only once its objective starts: if the worker dies
        # (or loses the database) in between, the trial still goes stale and is retried.
        if self.heartbeat_interval is not None:
            self.record_heartbeat(trial_id)

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            super().record_heartbeat(trial_id)
        except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as exc:
            _logger.warning("heartbeat of trial id %s not recorded (%s); retrying in %s s",
                            trial_id, one_line(exc), self.heartbeat_interval)


class _WalConnection(sqlite3.Connection):
    """sqlite3 connection that switches the file to WAL on connect.

    WAL lets the dashboard and other processes read while a worker writes. A module-level
    factory (not an engine event) survives pickling of the RDBStorage, which rebuilds its engine.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.execute("PRAGMA journal_mode=WAL")


def sqlite_path(url: str) -> Path | None:
    """The file of an `sqlite:` URL (relative to the CWD, as SQLite resolves it); None in memory."""
    database = sqlalchemy.engine.make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def check_sqlite_location(path: Path) -> None:
    """Fail with a clear message when the SQLite file cannot be created or written."""
    directory = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise StorageError(
            f"SQLite path {str(path)!r} is a directory: name a file, e.g. {path}/studies.db"
        )
    if not directory.is_dir():
        raise StorageError(
            f"directory {str(directory)!r} for the SQLite file does not exist: "
            f"create it (mkdir -p {directory}) or pass another --storage"
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        raise StorageError(f"directory {str(directory)!r} for the SQLite file is not writable")
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise StorageError(f"SQLite file {str(path)!r} is not readable and writable")


def prepare_url(url: str) -> str:
    """Normalise the URL and check its scheme and driver (no connection is made)."""
    url = normalize_url(url.strip())
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise StorageError(
            f"not a storage URL: {redact_url(url)!r}; expected {SUPPORTED}"
        ) from None
    try:
        dialect = parsed.get_dialect()
    except sqlalchemy.exc.NoSuchModuleError:
        raise StorageError(
            f"unknown storage scheme {parsed.drivername + '://'!r}: supported are {SUPPORTED}"
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        raise driver_error(url, exc) from None
    return url


def engine_kwargs(url: str) -> dict[str, Any]:
    """SQLAlchemy `create_engine` arguments for the URL's backend."""
    backend = backend_of(url)
    query = sqlalchemy.engine.make_url(url).query
    if backend == "sqlite":
        connect_args: dict[str, Any] = {"timeout": SQLITE_LOCK_TIMEOUT_S}
        if sqlite_path(url) is not None:
            connect_args["factory"] = _WalConnection
        return {"connect_args": connect_args}
    kwargs: dict[str, Any] = {"pool_pre_ping": True, "pool_recycle": POOL_RECYCLE_S}
    if backend == "postgresql":
        # Values given in the URL's query win over these defaults.
        defaults = {
            "connect_timeout": CONNECT_TIMEOUT_S,
            "application_name": "recon-lambda-study",
            # Detect a dead server/connection during long trials instead of hanging.
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        }
        kwargs["connect_args"] = {k: v for k, v in defaults.items() if k not in query}
    elif backend == "mysql":
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    return kwargs


def _heartbeat_settings(
    heartbeat_interval: int | None, grace_period: int | None, max_retry: int | None
) -> dict[str, Any]:
    if heartbeat_interval is None:
        if grace_period is not None:
            raise StorageError("a grace period needs a heartbeat interval")
        return {}
    if heartbeat_interval <= 0:
        raise StorageError(f"heartbeat interval must be positive, got {heartbeat_interval}")
    if grace_period is None:
        grace_period = GRACE_FACTOR * heartbeat_interval
    if grace_period <= heartbeat_interval:
        raise StorageError(
            f"grace period ({grace_period} s) must exceed the heartbeat interval "
            f"({heartbeat_interval} s), or live trials are failed between two heartbeats"
        )
    if max_retry is not None and max_retry < 0:
        raise StorageError(f"max retry must be >= 0, got {max_retry}")
    return {
        "heartbeat_interval": heartbeat_interval,
        "grace_period": grace_period,
        "heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(
            max_retry=max_retry
        ),
    }


def open_storage(
    url: str,
    *,
    heartbeat_interval: int | None = HEARTBEAT_INTERVAL_S,
    grace_period: int | None = None,
    max_retry: int | None = 3,
) -> optuna.storages.RDBStorage:
    """Open (creating the tables if needed) the Optuna RDBStorage for `url`.

    SQLite gets a 60 s lock timeout and WAL; PostgreSQL (`postgresql://`/`postgres://` use
    psycopg 3) gets pre-ping, pool recycling and a 10 s connect timeout. With a heartbeat
    interval, trials whose worker stopped beating for `grace_period` seconds (default 4
    intervals) are failed by the next worker and re-queued up to `max_retry` times.
    Raises StorageError with a one-line, password-free message.
    """
    url = prepare_url(url)
    if backend_of(url) == "sqlite" and (path := sqlite_path(url)) is not None:
        check_sqlite_location(path)
    with warnings.catch_warnings():
        # Heartbeats and the retry callback are stable in practice; the warning is noise per worker.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        settings = _heartbeat_settings(heartbeat_interval, grace_period, max_retry)
        try:
            return ResilientRDBStorage(url, engine_kwargs=engine_kwargs(url), **settings)
        except STORAGE_ERRORS as exc:
            raise translate(exc, url) from None
