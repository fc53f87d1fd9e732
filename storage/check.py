"""`python -m storage check`: what a storage URL points at, without changing anything there.

Unlike `open_storage`, this never creates a SQLite file or Optuna's tables, and it opens SQLite
files read-only.
"""

from __future__ import annotations

import json
import sqlite3
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

import optuna
import sqlalchemy
import sqlalchemy.exc
from optuna.trial import TrialState

from storage.errors import STORAGE_ERRORS, damaged_sqlite_error
from storage.rdb import (
    SQLITE_LOCK_TIMEOUT_S,
    SQLiteConnection,
    check_sqlite_location,
    engine_kwargs,
    prepare_url,
)
from storage.translate import translate

_OPTUNA_TABLES = {"studies", "trials", "version_info", "alembic_version"}
_STATES = [state.name for state in TrialState]


def _read_only_sqlite(path: Path) -> dict[str, Any]:
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"

    def connect() -> sqlite3.Connection:
        timeout = SQLITE_LOCK_TIMEOUT_S
        return sqlite3.connect(uri, uri=True, timeout=timeout, factory=SQLiteConnection)

    return {"creator": connect}


def _check_sqlite_pages(engine: sqlalchemy.Engine, path: Path) -> None:
    # Reads every page (0.2 s for 80 MB): fine for this diagnostic command, too slow to run on
    # every open. Finds damage in pages no query of the check would read (e.g. an index).
    with engine.connect() as conn:
        problems = [row[0] for row in conn.exec_driver_sql("PRAGMA quick_check").fetchall()]
    if problems != ["ok"]:
        first = " ".join(problems[0].replace("*** in database main ***", "").split())
        raise damaged_sqlite_error(path, f"PRAGMA quick_check: {first}")


# Two facts are read from Optuna's tables, not through its storage API: the version that created
# the storage (no API gives it) and the trial counts per state (the API loads every trial with
# its intermediate values: 46 s instead of 1 s for 30,000 trials of 40 epochs). Plain SQL on the
# table names, not Optuna's private models module; tests/storage/test_check_cli.py compares both
# with the API and fails first if the schema changes.
_VERSION_INFO = sqlalchemy.table("version_info", sqlalchemy.column("library_version"))
_TRIALS = sqlalchemy.table("trials", sqlalchemy.column("study_id"), sqlalchemy.column("state"))


def _created_by(engine: sqlalchemy.Engine) -> str | None:
    with engine.connect() as conn:
        return conn.execute(sqlalchemy.select(_VERSION_INFO.c.library_version)).scalar()


def _trial_counts(engine: sqlalchemy.Engine) -> dict[int, dict[str, int]]:
    query = sqlalchemy.select(
        _TRIALS.c.study_id, _TRIALS.c.state, sqlalchemy.func.count()
    ).group_by(_TRIALS.c.study_id, _TRIALS.c.state)
    counts: dict[int, dict[str, int]] = {}
    with engine.connect() as conn:
        for study_id, state, n in conn.execute(query):
            counts.setdefault(study_id, {})[str(state)] = n
    return counts


def _studies(storage: optuna.storages.RDBStorage) -> list[dict[str, Any]]:
    counts = _trial_counts(storage.engine)
    studies = []
    for study in sorted(storage.get_all_studies(), key=lambda s: s.study_name):
        by_state = counts.get(storage.get_study_id_from_name(study.study_name), {})
        studies.append(
            {
                "name": study.study_name,
                "directions": [d.name.lower() for d in study.directions],
                "trials": sum(by_state.values()),
                "states": {state: by_state.get(state, 0) for state in _STATES},
            }
        )
    return studies


def inspect_storage(url: str) -> dict[str, Any]:
    """Describe the storage at `url`: backend, redacted URL, reachability, schema, studies.

    Raises StorageError when the URL is invalid or the server cannot be reached.
    """
    url = prepare_url(url)
    report: dict[str, Any] = {
        "backend": url.backend,
        "url": url.redacted,
        "exists": True,
        "reachable": False,
        "optuna_version": optuna.__version__,
        "schema": None,
        "studies": [],
        "note": None,
    }
    kwargs = engine_kwargs(url)
    sqlite_file = url.sqlite_file
    if (path := sqlite_file) is not None:
        check_sqlite_location(path)
        report["path"] = str(path.resolve())
        if not path.exists():
            report.update(
                exists=False,
                note=(
                    f"SQLite file {str(path)!r} does not exist yet; "
                    "creating the study (python -m study create) creates it"
                ),
            )
            return report
        kwargs = _read_only_sqlite(path)
    try:
        engine = sqlalchemy.create_engine(url.url, **kwargs)
        try:
            if sqlite_file is not None:
                _check_sqlite_pages(engine, sqlite_file)
            tables = set(sqlalchemy.inspect(engine).get_table_names())
            report["reachable"] = True
            if not tables & _OPTUNA_TABLES:
                report["note"] = "no Optuna tables yet (empty database); creating a study adds them"
                return report
            if not _OPTUNA_TABLES <= tables:
                missing = ", ".join(sorted(_OPTUNA_TABLES - tables))
                report["note"] = f"incomplete Optuna schema (missing tables: {missing})"
                return report
            created_by = _created_by(engine)
        finally:
            engine.dispose()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(
                url.url, engine_kwargs=kwargs, skip_compatibility_check=True, skip_table_creation=True
            )
        try:
            current, head = storage.get_current_version(), storage.get_head_version()
            report["schema"] = {
                "version": current,
                "head": head,
                "up_to_date": current == head,
                "created_by_optuna": created_by,
            }
            if current != head:
                report["note"] = (
                    f"schema {current} differs from this Optuna's {head}: if the schema is older, "
                    f"run `optuna storage upgrade --storage URL`; if newer, upgrade Optuna"
                )
            report["studies"] = _studies(storage)
        finally:
            storage.engine.dispose()
    except STORAGE_ERRORS as exc:
        raise translate(exc, url) from None
    return report


def format_table(report: dict[str, Any]) -> str:
    """Human-readable rendering of an `inspect_storage` report."""
    lines = [
        f"backend:   {report['backend']}",
        f"url:       {report['url']}",
        f"exists:    {'yes' if report['exists'] else 'no'}",
        f"reachable: {'yes' if report['reachable'] else 'no'}",
    ]
    schema = report["schema"]
    if schema is not None:
        status = "up to date" if schema["up_to_date"] else f"NOT up to date (head {schema['head']})"
        lines.append(
            f"schema:    {schema['version']} ({status}; "
            f"created by optuna {schema['created_by_optuna']}, "
            f"running optuna {report['optuna_version']})"
        )
    if report["note"]:
        lines.append(f"note:      {report['note']}")
    lines.append(f"studies:   {len(report['studies'])}")
    if report["studies"]:
        columns = ["NAME", "DIRECTION", "TRIALS", *_STATES]
        rows = [
            [
                s["name"],
                ",".join(s["directions"]),
                str(s["trials"]),
                *(str(s["states"][state]) for state in _STATES),
            ]
            for s in report["studies"]
        ]
        widths = [max(len(row[i]) for row in [columns, *rows]) for i in range(len(columns))]
        for row in [columns, *rows]:
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            lines.append(("  " + "  ".join(cells)).rstrip())
    return "\n".join(lines)


def format_json(report: dict[str, Any]) -> str:
    """JSON rendering of an `inspect_storage` report."""
    return json.dumps(report, indent=2)


def run_check(url: str, fmt: str) -> str:
    """Inspect `url` and render the report; StorageError on failure."""
    report = inspect_storage(url)
    return format_json(report) if fmt == "json" else format_table(report)


__all__ = ["format_json", "format_table", "inspect_storage", "run_check"]
