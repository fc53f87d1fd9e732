"""`open_storage`: the Optuna RDBStorage for a URL, tuned per backend, with heartbeats and retry."""

from __future__ import annotations

import logging
import os
import sqlite3
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import optuna
import sqlalchemy.engine
import sqlalchemy.exc

from storage.errors import (
    STORAGE_ERRORS,
    StorageError,
    driver_error,
    sqlite_content_error,
)
from storage.optuna_internals import ResilientRDBStorage, RetryStaleTrialOnce
from storage.translate import translate
from storage.url import SUPPORTED, backend_of, normalize_url, parse_url, redact_url

SQLITE_LOCK_TIMEOUT_S = 60  # how long a writer waits for another process's lock
CONNECT_TIMEOUT_S = 10  # an unreachable server fails after this, not after minutes
POOL_RECYCLE_S = 1800  # below common firewall/NAT idle cut-offs
SERVER_DEAD_PEER_S = 25  # PostgreSQL ends a session whose host stopped answering after this
SERVER_KEEPALIVES = (  # probes after 10 s idle, every 5 s, 3 unanswered: 25 s
    "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3 "
    f"-c tcp_user_timeout={SERVER_DEAD_PEER_S * 1000}")
GRACE_FACTOR = 4  # grace period when none is given: 4 heartbeat intervals
_NOTHING_STORED = (
    "nothing was stored there yet — create a study first (python -m study create) "
    "or pass --storage"
)
_logger = logging.getLogger(__name__)


class _Cursor(sqlite3.Cursor):
    # Rows are read in steps: a damaged page can surface in any fetch, not only in execute.

    def execute(self, *args: Any) -> sqlite3.Cursor:
        with _content_errors(self.connection.path):
            return super().execute(*args)

    def executemany(self, *args: Any) -> sqlite3.Cursor:
        with _content_errors(self.connection.path):
            return super().executemany(*args)

    def fetchone(self) -> Any:
        with _content_errors(self.connection.path):
            return super().fetchone()

    def fetchmany(self, *args: Any) -> list[Any]:
        with _content_errors(self.connection.path):
            return super().fetchmany(*args)

    def fetchall(self) -> list[Any]:
        with _content_errors(self.connection.path):
            return super().fetchall()

    def __next__(self) -> Any:
        with _content_errors(self.connection.path):
            return super().__next__()


class SQLiteConnection(sqlite3.Connection):
    """sqlite3 connection whose "malformed" / "not a database" errors become one StorageError.

    A damaged page surfaces at whichever query first reads it, often deep in Optuna, which
    re-raises any SQLAlchemy error as "invalid data in the commit, e.g. exceeding max length".
    SQLAlchemy and Optuna pass other exception types through unchanged, so raising StorageError
    here gives every command the true cause. A class (not an engine event) survives pickling
    of the RDBStorage, which rebuilds its engine from `engine_kwargs`.
    """

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        path = str(database)  # a file name, or a `file:PATH?mode=ro` URI
        self.path = unquote(path[5:].partition("?")[0]) if path.startswith("file:") else path
        with _content_errors(self.path):
            super().__init__(database, *args, **kwargs)

    def cursor(self, factory: Any = None) -> sqlite3.Cursor:  # type: ignore[override]
        return super().cursor(factory or _Cursor)

    def commit(self) -> None:
        with _content_errors(self.path):
            super().commit()


class _WalConnection(SQLiteConnection):
    """SQLiteConnection that switches the file to WAL on connect.

    WAL lets the dashboard and other processes read while a worker writes.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cursor().execute("PRAGMA journal_mode=WAL")


@contextmanager
def _content_errors(path: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.DatabaseError as exc:
        error = sqlite_content_error(exc, path)
        if error is None:
            raise
        raise error from exc


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
    """Normalise the URL and check its syntax, scheme and driver (no connection is made).

    Raises StorageError (one line, no password) for a URL that cannot be parsed, e.g. one whose
    password holds an unencoded `@`.
    """
    parse_url(url.strip())  # errors show the URL as the user wrote it
    url = normalize_url(url.strip())
    parsed = sqlalchemy.engine.make_url(url)
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


def engine_kwargs(url: str, *, wal: bool = True) -> dict[str, Any]:
    """SQLAlchemy `create_engine` arguments for the URL's backend.

    `wal`: switch an SQLite file to WAL on connect (WAL is stored in the file, so a file that
    was created by `open_storage` stays WAL; `wal=False` leaves a file as it is).
    """
    backend = backend_of(url)
    query = sqlalchemy.engine.make_url(url).query
    if backend == "sqlite":
        connect_args: dict[str, Any] = {"timeout": SQLITE_LOCK_TIMEOUT_S}
        if sqlite_path(url) is not None:
            connect_args["factory"] = _WalConnection if wal else SQLiteConnection
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
            # The server's side of the same, set per session: a host that vanishes (power, cable,
            # a frozen VM) while its worker holds the study lock or a row lock would otherwise
            # block every other worker until the server's own keepalive (2 h on Linux) ends
            # its session. Unanswered for SERVER_DEAD_PEER_S, the session ends and its locks go.
            "options": SERVER_KEEPALIVES,
        }
        kwargs["connect_args"] = {k: v for k, v in defaults.items() if k not in query}
    elif backend == "mysql":
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    return kwargs


def _heartbeat_settings(
    heartbeat_interval: int | None, grace_period: int | None, max_retry: int | None
) -> dict[str, Any]:
    if max_retry is not None and max_retry < 0:
        raise StorageError(f"max retry must be >= 0, got {max_retry}")
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
    return {
        "heartbeat_interval": heartbeat_interval,
        "grace_period": grace_period,
        "heartbeat_stale_trial_callback": RetryStaleTrialOnce(max_retry=max_retry),
    }


def open_storage(
    url: str,
    *,
    create: bool = True,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    max_retry: int | None = 3,
) -> optuna.storages.RDBStorage:
    """Open the Optuna RDBStorage for `url`, creating the SQLite file and Optuna's tables if needed.

    With `create=False` (read-only commands) nothing is created: a missing SQLite file, or a
    database without Optuna's tables, is a StorageError saying nothing was stored there yet.
    SQLite gets a 60 s lock timeout and WAL; PostgreSQL (`postgresql://`/`postgres://` use
    psycopg 3) gets pre-ping, pool recycling and a 10 s connect timeout. With a heartbeat
    interval (the service passes its setting; none by default), trials whose worker stopped
    beating for `grace_period` seconds (default 4 intervals) are failed by the next worker and
    re-queued, exactly once each, up to `max_retry` times.
    Raises StorageError with a one-line, password-free message.
    """
    url = prepare_url(url)
    if backend_of(url) == "sqlite" and (path := sqlite_path(url)) is not None:
        check_sqlite_location(path)
        if not create and not path.exists():
            raise StorageError(f"no SQLite file {str(path)!r}: {_NOTHING_STORED}")
    with warnings.catch_warnings():
        # Heartbeats and the retry callback are stable in practice; the warning is noise per worker.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        settings = _heartbeat_settings(heartbeat_interval, grace_period, max_retry)
        kwargs = engine_kwargs(url, wal=create)
        try:
            return ResilientRDBStorage(
                url, engine_kwargs=kwargs, skip_table_creation=not create, **settings
            )
        except STORAGE_ERRORS as exc:
            if not create and not _has_optuna_tables(url, kwargs):
                raise StorageError(
                    f"no Optuna tables in {redact_url(url)}: {_NOTHING_STORED}"
                ) from None
            raise translate(exc, url) from None


def _has_optuna_tables(url: str, kwargs: dict[str, Any]) -> bool:
    # True when that cannot be told: the caller then reports the original error. `version_info`
    # is the table RDBStorage reads first when it opens a storage.
    try:
        engine = sqlalchemy.create_engine(url, **kwargs)
        try:
            return sqlalchemy.inspect(engine).has_table("version_info")
        finally:
            engine.dispose()
    except STORAGE_ERRORS:
        return True
