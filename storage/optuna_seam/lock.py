"""A lock shared by every worker of a study.

Optuna has no cross-process lock; the budget and the stale-trial retry need one. PostgreSQL: an
advisory lock, MySQL: GET_LOCK, SQLite: a file lock beside the database file. The engine behind a
Study is private (`backend_of`).
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import optuna
import sqlalchemy

from storage.optuna_seam.ids import backend_of


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


def sqlite_lock_file(database: str | Path) -> Path:
    """The file whose `flock` is the study lock of the SQLite database at `database`."""
    return Path(f"{database}.budget.lock")


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
        with open(sqlite_lock_file(engine.url.database), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    else:  # in-memory: one process, nothing to coordinate
        yield
