"""A throwaway PostgreSQL cluster for tests: initdb + pg_ctl in a temp dir, password auth.

PostgreSQL refuses to run as root. When the tests run as root, every server command runs as an
unprivileged system user (env `POSTGRES_TEST_OS_USER`, else `postgres`, else `nobody`) through
`subprocess`'s `user=`/`group=` arguments, and the temp dir is handed to that user. Nothing else
(no sudo, no runuser) is needed; `nobody` exists on every Debian/Ubuntu image.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests import reaper
from tests.helpers import free_port

SUPERUSER = "optuna_test"
_SAFE_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def find_pg_bin() -> Path | None:
    """Return the directory holding initdb, pg_ctl and postgres, or None when not installed."""
    found = shutil.which("initdb")
    candidates = [Path(found).resolve().parent] if found else []
    # Debian/Ubuntu keep the server binaries off PATH.
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for directory in candidates:
        if all((directory / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
            return directory
    return None


def _run_as_user() -> pwd.struct_passwd | None:
    """The unprivileged account that runs the server, or None when we are not root."""
    if os.geteuid() != 0:
        return None
    names = [os.environ.get("POSTGRES_TEST_OS_USER"), "postgres", "nobody"]
    for name in filter(None, names):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError(
        "running as root and no unprivileged user to run PostgreSQL as: "
        "create one (useradd --system postgres) or set POSTGRES_TEST_OS_USER"
    )


class PostgresCluster:
    """One PostgreSQL server on 127.0.0.1 with a free port, data in a temp dir.

    `start()` initialises the cluster on first use; `stop()`/`start()`/`restart()` keep the
    same port and data dir so tests can simulate a server outage. `cleanup()` removes it all.
    `settings` are written to postgresql.conf after (and over) the defaults, e.g.
    `{"max_connections": "80"}`.
    """

    def __init__(self, bin_dir: Path | None = None, password: str | None = None,
                 settings: dict[str, str] | None = None) -> None:
        bin_dir = bin_dir or find_pg_bin()
        if bin_dir is None:
            raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) not found")
        self.bin_dir = bin_dir
        self.user = SUPERUSER
        # Letters and digits only, so the URL needs no quoting; random, so a leak is visible.
        self.password = password or "pw" + secrets.token_hex(12)
        self.host = "127.0.0.1"
        self.port = free_port()
        self._os_user = _run_as_user()
        self.base_dir = Path(tempfile.mkdtemp(prefix="pgtest-"))
        self.data_dir = self.base_dir / "data"
        self.socket_dir = self.base_dir / "sock"
        self.log_file = self.base_dir / "server.log"
        self.settings = dict(settings or {})
        self._initialised = False
        # Should this process die without calling cleanup(), the server stops and the dir goes.
        uid, gid = (self._os_user.pw_uid, self._os_user.pw_gid) if self._os_user else (None, None)
        self._reaper = reaper.watch([reaper.Command(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w",
             "stop"], uid, gid, cwd="/")], remove=[str(self.base_dir)])

    # -- server processes ---------------------------------------------------------------------
    def _run(
        self, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        kwargs: dict[str, Any] = {}
        if self._os_user is not None:
            kwargs.update(user=self._os_user.pw_uid, group=self._os_user.pw_gid, extra_groups=[])
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        env.pop("PGDATA", None)
        proc = subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]],
            check=False,
            cwd=self.base_dir,  # the server user may not be able to read the caller's CWD
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            **kwargs,
        )
        if check and proc.returncode != 0:
            output = proc.stderr.strip() or proc.stdout.strip()
            raise RuntimeError(
                f"{args[0]} failed ({proc.returncode}): {output}"
                f"\n--- server log ---\n{self.log_tail()}"
            )
        return proc

    def _init(self) -> None:
        self.socket_dir.mkdir()
        pwfile = self.base_dir / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._os_user is not None:
            for path in (self.base_dir, self.socket_dir, pwfile):
                os.chown(path, self._os_user.pw_uid, self._os_user.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            self.user,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        pwfile.unlink()
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "max_connections": "200",
            # Throwaway data: skip flushing to disk (only an OS crash loses data). Commits stay
            # synchronous, so a committed row survives `stop -m immediate` as in production.
            "fsync": "off",
            "full_page_writes": "off",
            **self.settings,
        }
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self._initialised = True

    def start(self) -> None:
        """Start the server (initialising the cluster the first time) and wait until it accepts."""
        if not self._initialised:
            self._init()
        if self.is_running():
            return
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            "60",
            "start",
            timeout=90,
        )

    def stop(self) -> None:
        """Stop the server at once (like a crash: `pg_ctl stop -m immediate`)."""
        if self._initialised and self.is_running():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")

    def restart(self) -> None:
        """Stop and start again on the same port and data dir."""
        self.stop()
        self.start()

    def is_running(self) -> bool:
        """True while the postmaster of this cluster runs."""
        if not self._initialised:
            return False
        return self._run("pg_ctl", "-D", str(self.data_dir), "status", check=False).returncode == 0

    def cleanup(self) -> None:
        """Stop the server and delete the temp dir."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self._reaper.cancel()

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server log (for failure messages)."""
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    # -- clients ------------------------------------------------------------------------------
    def url(
        self, database: str = "postgres", *, password: str | None = None, driver: str = "psycopg"
    ) -> str:
        """SQLAlchemy URL of `database` as the test superuser (optionally with another password)."""
        pw = quote(self.password if password is None else password, safe="")
        return f"postgresql+{driver}://{self.user}:{pw}@{self.host}:{self.port}/{database}"

    def connect_kwargs(self, database: str = "postgres") -> dict[str, Any]:
        """`psycopg.connect` keywords for `database` as the test superuser."""
        return {"host": self.host, "port": self.port, "user": self.user,
                "password": self.password, "dbname": database, "connect_timeout": 10}

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname="postgres",
            autocommit=True,
            connect_timeout=10,
        ) as conn:
            conn.execute(sql)

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        if not _SAFE_DB_NAME.match(name):
            raise ValueError(f"unsafe database name {name!r}")
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, closing any connections still open to it."""
        if not _SAFE_DB_NAME.match(name):
            raise ValueError(f"unsafe database name {name!r}")
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
