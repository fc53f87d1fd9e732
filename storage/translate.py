"""Turning a driver's or SQLAlchemy's failure into one clear, password-free `StorageError` line."""

from __future__ import annotations

import re
import sqlite3

import optuna
import sqlalchemy.engine
import sqlalchemy.exc

from storage.errors import (
    StorageError,
    StorageUnreachable,
    driver_error,
    first_line,
    sqlite_content_error,
)
from storage.url import StorageURL, scrub

_UNREACHABLE = (
    ("connection refused", "connection refused"),
    ("timeout expired", "timed out"),
    ("timed out", "timed out"),
    ("could not translate host name", "unknown host name"),
    ("name or service not known", "unknown host name"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network unreachable"),
    ("server closed the connection", "server closed the connection"),
    ("connection reset", "connection reset"),
    ("no such file or directory", "no server socket"),
    ("invalid response to ssl negotiation", "the server there does not speak PostgreSQL"),
    ("the database system is starting up", "the server is starting up"),
    ("the database system is not yet accepting connections", "the server is starting up"),
    ("the database system is shutting down", "the server is shutting down"),
    ("the database system is in recovery mode", "the server is recovering"),
    # storage/published.py: the database job (deploy/slurm/database.sbatch) is between nodes
    ("no database address published", "the database job is not running"),
)
# Reasons that say nothing will answer there however long one waits.
_NOT_A_SERVER = ("the server there does not speak PostgreSQL",)


def _endpoint(parsed: sqlalchemy.engine.URL) -> str:
    default_port = {"postgresql": 5432, "mysql": 3306}.get(parsed.get_backend_name())
    return f"{parsed.host or 'localhost'}:{parsed.port or default_port}"


def translate(exc: BaseException, url: StorageURL) -> StorageError:
    """Turn an exception raised while opening or using `url` into a one-line, password-free
    StorageError."""
    if isinstance(exc, optuna.exceptions.StorageInternalError) and exc.__cause__ is not None:
        exc = exc.__cause__  # Optuna's text ("... e.g. exceeding max length") hides the cause
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, ImportError):
        cause = exc.__cause__ if isinstance(exc.__cause__, ImportError) else exc
        return driver_error(url.url, cause)
    orig = getattr(exc, "orig", None) or exc
    message = first_line(str(orig))
    lowered = str(orig).lower()
    backend, safe_url, parsed = url.backend, url.redacted, url.parsed

    if isinstance(exc, RuntimeError) and "no longer compatible with the table schema" in message:
        if "optuna storage upgrade" in message:
            text = (
                f"the schema of {safe_url} is older than optuna {optuna.__version__} expects: "
                "stop all workers and run `optuna storage upgrade --storage URL` once"
            )
        else:
            text = (
                f"the schema of {safe_url} is newer than optuna {optuna.__version__} knows: "
                "install the optuna version that created it (every worker must run one version)"
            )
    elif backend == "sqlite":
        path = parsed.database or url.url
        content = sqlite_content_error(orig, path) if isinstance(orig, sqlite3.Error) else None
        if content is not None:
            return content
        if "unable to open database file" in lowered:
            text = (
                f"cannot open SQLite file {path!r}: check that its directory exists and is "
                "writable, or pass another --storage"
            )
        elif "database is locked" in lowered:
            text = (
                f"SQLite file {path!r} stayed locked by another process: use fewer parallel "
                "workers on SQLite, or PostgreSQL for many workers"
            )
        elif "readonly database" in lowered or "read-only" in lowered:
            text = f"SQLite file {path!r} is read-only: make it (and its directory) writable"
        else:
            text = f"cannot open {safe_url}: {message}"
    elif isinstance(exc, sqlalchemy.exc.DBAPIError | ConnectionError):
        text = _server_error(parsed, backend, safe_url, message, lowered)
        if text.startswith("cannot reach ") and not any(why in text for why in _NOT_A_SERVER):
            return StorageUnreachable(scrub(text, url.url))
    else:
        text = f"cannot open {safe_url}: {type(exc).__name__}: {message}"
    return StorageError(scrub(text, url.url))


def _server_error(
    parsed: sqlalchemy.engine.URL, backend: str, safe_url: str, message: str, lowered: str
) -> str:
    endpoint = _endpoint(parsed)
    reason = next((why for needle, why in _UNREACHABLE if needle in lowered), None)
    if (
        "password authentication failed" in lowered
        or "no password supplied" in lowered
        or "access denied for user" in lowered
    ):
        return (
            f"authentication failed for user {parsed.username!r} at {endpoint}: "
            "check the user name and password in the storage URL"
        )
    if re.search(r'database "[^"]*" does not exist|unknown database', lowered):
        return (
            f"database {parsed.database!r} does not exist on {endpoint}: create it first "
            f"(psql -h {parsed.host} -p {parsed.port or 5432} -U {parsed.username} "
            f"-d postgres -c 'CREATE DATABASE \"{parsed.database}\"')"
        )
    if "permission denied for schema" in lowered:
        # PostgreSQL >= 15: only the database owner may create tables in schema public.
        return (
            f"user {parsed.username!r} may not create Optuna's tables in database "
            f"{parsed.database!r} on {endpoint} ({message}): make it the database's owner "
            f"(ALTER DATABASE \"{parsed.database}\" OWNER TO \"{parsed.username}\")"
        )
    if reason is not None:
        return (
            f"cannot reach {backend} at {endpoint} ({reason}): is the server running, "
            "and are host and port in the storage URL right?"
        )
    return f"cannot open {safe_url}: {message}"
