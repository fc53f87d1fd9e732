"""A PostgreSQL server whose address moves: the URL is read from a file at every new connection.

`deploy/slurm/database.sbatch` runs the study's PostgreSQL as a job of the allocation and writes
its URL to a file on the shared file system (`$STUDY_DB_ADDRESS`); requeued, it may start on
another node, on another port, and writes the file again (it removes it while it is down). With
`STUDY_DB_ADDRESS` set, a PostgreSQL storage connects through `connect` below instead of the
URL's host and port, so a worker's pool (pre-ping drops dead connections) finds the server
wherever it is now: the worker's usual storage-outage wait covers the move.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

ADDRESS_ENV = "STUDY_DB_ADDRESS"  # the file database.sbatch publishes the server's URL in


def address_file(environ: Any = None) -> Path | None:
    value = (os.environ if environ is None else environ).get(ADDRESS_ENV, "").strip()
    return Path(value) if value else None


def read_address(path: Path) -> str:
    """The URL in `path`; psycopg's OperationalError (a storage outage) while there is none."""
    import psycopg

    try:
        text = Path(path).read_text().strip()
    except FileNotFoundError:
        text = ""
    except OSError as exc:
        raise psycopg.OperationalError(f"cannot read the published database address {path}: "
                                       f"{exc.strerror}") from None
    if not text:
        # The database job is down (requeued, not yet started): an outage the worker waits out.
        raise psycopg.OperationalError(f"no database address published in {path} (the "
                                       "database job is not running)")
    return text


def connect(path: str, connect_args: dict[str, Any]) -> Any:
    """A psycopg connection to the server `path` names now (SQLAlchemy's `creator`)."""
    import psycopg
    import sqlalchemy.engine

    url = sqlalchemy.engine.make_url(read_address(Path(path)))
    params = {"host": url.host, "port": url.port or 5432, "dbname": url.database,
              "user": url.username, "password": url.password}
    params = {k: v for k, v in params.items() if v is not None}
    return psycopg.connect(**{**connect_args, **dict(url.query), **params})


def creator(path: Path, connect_args: dict[str, Any]) -> Any:
    """A picklable `creator` (an RDBStorage rebuilds its engine from its arguments)."""
    return functools.partial(connect, str(path), dict(connect_args))
