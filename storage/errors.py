"""`StorageError`, what opening a storage may raise, and the errors with fixed wording (a damaged
SQLite file, a missing driver). Turning any other failure into one line: `storage.translate`."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import optuna
import sqlalchemy.engine
import sqlalchemy.exc

# What opening or querying a storage may raise; `storage.translate` turns each into one line.
STORAGE_ERRORS = (
    sqlalchemy.exc.SQLAlchemyError,
    optuna.exceptions.StorageInternalError,
    ImportError,
    OSError,
    RuntimeError,
    sqlite3.Error,
)


# Errors of two processes creating the same tables or study at once; worth a retry.
_RACE_MARKERS = ("already exists", "duplicate key", "unique constraint", "integrityerror",
                 "database is locked", "deadlock")


class StorageError(RuntimeError):
    """A storage problem the user can fix; the message is one line and never holds a password."""


class StorageUnreachable(StorageError):
    """The database server does not answer (yet): refused, timed out, unknown host, starting
    up. A worker started before its database waits on this one, bounded; on any other
    StorageError (a wrong password, a missing database) it stops at once."""


def is_creation_race(exc: BaseException) -> bool:
    """`exc` comes from another process creating the same tables or study at the same moment."""
    text = f"{type(exc).__name__} {exc} {exc.__cause__ or ''}".lower()
    return any(marker in text for marker in _RACE_MARKERS)


# Driver module → how to get it.
_DRIVER_HINTS = {
    "psycopg": "pip install 'psycopg[binary]'",
    "psycopg2": "pip install psycopg2-binary, or drop '+psycopg2' to use the installed psycopg 3",
    "MySQLdb": "pip install mysqlclient (or use mysql+pymysql:// with pip install pymysql)",
    "pymysql": "pip install pymysql",
}

# SQLite result codes (the low byte of extended codes) that mean the file's content is bad.
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26
_SQLITE_MAGIC = b"SQLite format 3\x00"


def damaged_sqlite_error(path: str | Path, reason: str) -> StorageError:
    """The error for an SQLite file whose pages cannot be read."""
    return StorageError(
        f"SQLite file {str(path)!r} is damaged ({reason}): restore it from a backup, "
        "or pass another --storage"
    )


def sqlite_content_error(exc: sqlite3.Error, path: str | Path) -> StorageError | None:
    """The StorageError for an sqlite3 error that says the file is damaged or no database at all;
    None for any other error (locks, permissions, SQL)."""
    text = str(exc)
    code = getattr(exc, "sqlite_errorcode", None)  # Python >= 3.11
    if code is not None:
        corrupt, not_a_database = code & 0xFF == _SQLITE_CORRUPT, code & 0xFF == _SQLITE_NOTADB
    else:
        corrupt, not_a_database = "malformed" in text, "not a database" in text
    if not_a_database and not _has_sqlite_header(path):
        return StorageError(
            f"{str(path)!r} is not an SQLite database (or its header is damaged): "
            "pass another --storage"
        )
    return damaged_sqlite_error(path, text) if corrupt or not_a_database else None


def _has_sqlite_header(path: str | Path) -> bool:
    try:
        with open(path, "rb") as file:
            return file.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False


def driver_error(url: str, exc: ImportError) -> StorageError:
    """The error for a URL whose database driver is not installed."""
    module = (exc.name or "").split(".")[0] or str(exc)
    scheme = url.partition("://")[0]
    hint = _DRIVER_HINTS.get(module, f"install the Python package providing {module!r}")
    return StorageError(
        f"the database driver for {scheme}:// URLs is not installed (no module {module!r}): {hint}"
    )


def first_line(text: str) -> str:
    text = re.sub(r"\(Background on this error at: [^)]*\)", "", text)
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return "unknown error"


def one_line(exc: BaseException) -> str:
    """`Type: first line` of the error behind `exc` (the driver's, where SQLAlchemy wraps one)."""
    cause = exc.__cause__ or exc
    return f"{type(cause).__name__}: {first_line(str(getattr(cause, 'orig', None) or cause))}"
