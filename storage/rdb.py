"""`open_storage`: the Optuna RDBStorage for a URL, tuned per backend, with heartbeats and retry."""

from __future__ import annotations

import logging
import os
import random
import sqlite3
import time
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
    is_creation_race,
    sqlite_content_error,
)
from storage.heartbeats import MAX_RETRY, Heartbeat
from storage.optuna_seam.resilient import ResilientRDBStorage
from storage.optuna_seam.retry import RetryStaleTrialOnce
from storage.translate import translate
from storage.url import SUPPORTED, StorageURL

SQLITE_LOCK_TIMEOUT_S = 60  # how long a writer waits for another process's lock
CONNECT_TIMEOUT_S = 10  # an unreachable server fails after this, not after minutes
POOL_RECYCLE_S = 1800  # below common firewall/NAT idle cut-offs
# Connections one storage may hold: PostgreSQL's max_connections (default 100) is shared by every
# process. A worker needs 2 at once (measured, bench/connections.py): Optuna's schema check on
# open, the study lock beside a storage call, or a storage call beside the heartbeat thread. The
# pool keeps both for reuse and never opens a third (a third checkout would wait for one).
POOL_SIZE = 2
SERVER_DEAD_PEER_S = 25  # PostgreSQL ends a session whose host stopped answering after this
SERVER_KEEPALIVES = (  # probes after 10 s idle, every 5 s, 3 unanswered: 25 s
    "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3 "
    f"-c tcp_user_timeout={SERVER_DEAD_PEER_S * 1000}")
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


def prepare_url(url: str | StorageURL) -> StorageURL:
    """The URL parsed once, its scheme and driver checked (no connection is made).

    Raises StorageError (one line, no password) for a URL that cannot be parsed, e.g. one whose
    password holds an unencoded `@`.
    """
    prepared = url if isinstance(url, StorageURL) else StorageURL.parse(url)
    try:
        dialect = prepared.parsed.get_dialect()
    except sqlalchemy.exc.NoSuchModuleError:
        raise StorageError(f"unknown storage scheme {prepared.parsed.drivername + '://'!r}: "
                           f"supported are {SUPPORTED}") from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        raise driver_error(prepared.url, exc) from None
    return prepared


def engine_kwargs(url: str | StorageURL, *, wal: bool = True) -> dict[str, Any]:
    """SQLAlchemy `create_engine` arguments for the URL's backend.

    `wal`: switch an SQLite file to WAL on connect (WAL is stored in the file, so a file that
    was created by `open_storage` stays WAL; `wal=False` leaves a file as it is).
    """
    url = url if isinstance(url, StorageURL) else StorageURL.parse(url)
    if url.backend == "sqlite":
        connect_args: dict[str, Any] = {"timeout": SQLITE_LOCK_TIMEOUT_S}
        if url.sqlite_file is not None:
            connect_args["factory"] = _WalConnection if wal else SQLiteConnection
        return {"connect_args": connect_args}
    kwargs: dict[str, Any] = {"pool_pre_ping": True, "pool_recycle": POOL_RECYCLE_S,
                              "pool_size": POOL_SIZE, "max_overflow": 0}
    if url.backend == "postgresql":
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
        kwargs["connect_args"] = {k: v for k, v in defaults.items() if k not in url.parsed.query}
    elif url.backend == "mysql":
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    return kwargs


def open_storage(
    url: str | StorageURL,
    *,
    create: bool = True,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    max_retry: int | None = MAX_RETRY,
    attempts: int = 5,
) -> optuna.storages.RDBStorage:
    """Open the Optuna RDBStorage for `url`, creating the SQLite file and Optuna's tables if needed.

    With `create=False` (read-only commands) nothing is created: a missing SQLite file, or a
    database without Optuna's tables, is a StorageError saying nothing was stored there yet.
    SQLite gets a 60 s lock timeout and WAL; PostgreSQL (`postgresql://`/`postgres://` use
    psycopg 3) gets pre-ping, pool recycling and a 10 s connect timeout. With a heartbeat
    interval (the service passes its settings; none by default), trials whose worker stopped
    beating are failed by the next worker and re-queued (`storage.heartbeats.Heartbeat`).
    Another process creating the tables at the same moment is waited for (`attempts` tries).
    Raises StorageError with a one-line, password-free message.
    """
    heartbeat = Heartbeat.of(heartbeat_interval, grace_period, max_retry)
    url = prepare_url(url)
    if (path := url.sqlite_file) is not None:
        check_sqlite_location(path)
        if not create and not path.exists():
            raise StorageError(f"no SQLite file {str(path)!r}: {_NOTHING_STORED}")
    for attempt in range(attempts):
        try:
            return _open(url, create, heartbeat)
        except StorageError as exc:
            if attempt + 1 == attempts or not is_creation_race(exc):
                raise
            time.sleep(0.1 + random.random() * 0.4)
    raise AssertionError("unreachable")


def _open(url: StorageURL, create: bool, heartbeat: Heartbeat | None) -> ResilientRDBStorage:
    with warnings.catch_warnings():
        # Heartbeats and the retry callback are stable in practice; the warning is noise per worker.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        settings: dict[str, Any] = {}
        if heartbeat is not None:
            settings = {"heartbeat_interval": heartbeat.interval, "grace_period": heartbeat.grace,
                        "heartbeat_stale_trial_callback": RetryStaleTrialOnce(heartbeat.max_retry)}
        kwargs = engine_kwargs(url, wal=create)
        try:
            return ResilientRDBStorage(
                url.url, engine_kwargs=kwargs, skip_table_creation=not create, **settings
            )
        except STORAGE_ERRORS as exc:
            if not create and not _has_optuna_tables(url, kwargs):
                raise StorageError(
                    f"no Optuna tables in {url.redacted}: {_NOTHING_STORED}"
                ) from None
            raise translate(exc, url) from None


def _has_optuna_tables(url: StorageURL, kwargs: dict[str, Any]) -> bool:
    # True when that cannot be told: the caller then reports the original error. `version_info`
    # is the table RDBStorage reads first when it opens a storage.
    try:
        engine = sqlalchemy.create_engine(url.url, **kwargs)
        try:
            return sqlalchemy.inspect(engine).has_table("version_info")
        finally:
            engine.dispose()
    except STORAGE_ERRORS:
        return True
