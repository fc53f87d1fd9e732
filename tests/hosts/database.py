"""Throwaway PostgreSQL servers inside the test network's `db` namespace.

`NamespacedCluster` is `tests.postgres_cluster.PostgresCluster` run inside a network namespace:
it listens on one private address of the LAN (what workers on other hosts use) and on a Unix
socket in its temp dir, which the test itself uses from the root namespace, so the test can read
the study whatever the network does. `Standby` is a streaming replica of it (synchronous, so a
committed trial is on both), promoted in the failover scenario.
"""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any
from urllib.parse import quote

from tests.hosts.network import SUBNET
from tests.postgres_cluster import PostgresCluster

PORT = 5432  # the namespace has its own ports: no other server can hold it


class NamespacedCluster(PostgresCluster):
    """A PostgreSQL server in `namespace`, listening on `address` (and its socket)."""

    def __init__(self, namespace: str, address: str, password: str | None = None) -> None:
        super().__init__(password=password)
        self.namespace, self.address = namespace, address
        self.host, self.port = address, PORT

    def _run(self, *args: str, check: bool = True,
             timeout: float = 60) -> subprocess.CompletedProcess:
        # PostgreSQL refuses root: setpriv drops to the server user after `ip netns exec`
        # (which needs root) has entered the namespace. Only the server itself runs inside it
        # (`pg_ctl start`); everything else talks to it through its socket and pid file.
        argv = [str(self.bin_dir / args[0]), *args[1:]]
        if self._os_user is not None:
            argv = ["setpriv", f"--reuid={self._os_user.pw_uid}",
                    f"--regid={self._os_user.pw_gid}", "--clear-groups", *argv]
        if "start" in args:
            argv = ["ip", "netns", "exec", self.namespace, *argv]
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        env.pop("PGDATA", None)
        proc = subprocess.run(argv, check=False,
                              cwd=self.base_dir, env=env, capture_output=True, text=True,
                              timeout=timeout)
        if check and proc.returncode != 0:
            output = proc.stderr.strip() or proc.stdout.strip()
            raise RuntimeError(f"{args[0]} failed ({proc.returncode}): {output}"
                               f"\n--- server log ---\n{self.log_tail()}")
        return proc

    def _init(self) -> None:
        super()._init()
        self._configure()

    def _configure(self) -> None:
        """Listen on the LAN address and accept the hosts' passwords (later lines win)."""
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write(f"listen_addresses = '{self.address}'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.socket_dir}'\n")
        with open(self.data_dir / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {SUBNET}.0/24 scram-sha-256\n"
                      f"host replication all {SUBNET}.0/24 scram-sha-256\n")

    def socket_url(self, database: str) -> str:
        """The URL the test uses from the root namespace (the Unix socket: no network)."""
        pw = quote(self.password, safe="")
        return (f"postgresql+psycopg://{self.user}:{pw}@/{database}"
                f"?host={quote(str(self.socket_dir), safe='')}&port={self.port}")

    def _connect(self, **kwargs: Any) -> Any:  # a psycopg connection
        import psycopg

        return psycopg.connect(host=str(self.socket_dir), port=self.port, user=self.user,
                               password=self.password, dbname="postgres", connect_timeout=10,
                               **kwargs)

    def _admin(self, sql: str) -> None:
        with self._connect(autocommit=True) as conn:
            conn.execute(sql)

    def query(self, sql: str) -> list[tuple]:
        """Rows of `sql` in the `postgres` database, through the socket."""
        with self._connect(autocommit=True) as conn:
            cursor = conn.execute(sql)
            return cursor.fetchall() if cursor.description else []


class Standby(NamespacedCluster):
    """A synchronous streaming replica of `primary`, in the same namespace, on `address`."""

    def __init__(self, primary: NamespacedCluster, address: str) -> None:
        super().__init__(primary.namespace, address, password=primary.password)
        self.primary = primary

    def _init(self) -> None:
        self.socket_dir.mkdir()
        if self._os_user is not None:
            for path in (self.base_dir, self.socket_dir):
                os.chown(path, self._os_user.pw_uid, self._os_user.pw_gid)
        # `-R` writes standby.signal and primary_conninfo (over the primary's socket).
        conninfo = (f"host={self.primary.socket_dir} port={self.primary.port} "
                    f"user={self.user} password={self.password} application_name=standby")
        self._run("pg_basebackup", "-D", str(self.data_dir), "-d", conninfo, "-R",
                  "--checkpoint=fast", "-X", "stream", timeout=120)
        self._configure()
        self._initialised = True

    def promote(self) -> None:
        """Make this server the primary (waits until it accepts writes)."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-w", "-t", "60", "promote", timeout=90)


def make_synchronous(primary: NamespacedCluster, standby: Standby, timeout: float = 60) -> None:
    """Every commit of `primary` waits for `standby`: a failover then loses no finished trial."""
    deadline = time.monotonic() + timeout
    while not primary.query("SELECT 1 FROM pg_stat_replication WHERE state = 'streaming'"):
        if time.monotonic() > deadline:
            raise AssertionError(f"the standby never streamed:\n{standby.log_tail()}")
        time.sleep(0.2)
    primary.query("ALTER SYSTEM SET synchronous_standby_names = 'standby'")
    primary.query("SELECT pg_reload_conf()")
    while primary.query("SELECT 1 FROM pg_stat_replication WHERE sync_state = 'sync'") == []:
        if time.monotonic() > deadline:
            raise AssertionError("the standby never became synchronous")
        time.sleep(0.2)


def worker_url(cluster: NamespacedCluster, database: str, *, failover_to: str | None = None) -> str:
    """The URL hosts use: the server's LAN address (then the standby's, for failover)."""
    pw = quote(cluster.password, safe="")
    if failover_to is None:
        return f"postgresql+psycopg://{cluster.user}:{pw}@{cluster.address}:{PORT}/{database}"
    # libpq tries the hosts in order and keeps the one that accepts writes.
    return (f"postgresql+psycopg://{cluster.user}:{pw}@/{database}?host={cluster.address}:{PORT}"
            f"&host={failover_to}:{PORT}&target_session_attrs=read-write")
