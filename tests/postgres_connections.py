"""Counting a PostgreSQL server's client connections from the server side, while a run goes on.

`ConnectionSampler` polls `pg_stat_activity` from its own connection in a thread and keeps the
peak number of connections with the service's `application_name`, the peak of each client
process (a connection's `client_port` is traced to the local process holding that socket through
/proc, so this works for clients on this machine only) and every server backend seen, which
shows connections that were opened and closed again, and how many waited for an advisory lock
(the study lock). The benchmark `bench.connections` uses it too.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Self

APPLICATION_NAME = "recon-lambda-study"  # what storage.rdb sets on every connection
TOO_MANY = ("too many clients", "too many connections", "remaining connection slots")


def _socket_inodes_by_port() -> dict[int, int]:
    """Local TCP port → socket inode, for the sockets of this machine (IPv4 and IPv6)."""
    found: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            found[int(parts[1].rpartition(":")[2], 16)] = int(parts[9])
    return found


def _inode_owners() -> dict[int, int]:
    """Socket inode → process id, for every process this user may inspect."""
    owners: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            for fd in os.scandir(f"/proc/{entry.name}/fd"):
                match = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(fd.path))
                if match:
                    owners[int(match.group(1))] = int(entry.name)
        except OSError:  # gone meanwhile, or not ours
            continue
    return owners


def client_pids(ports: set[int]) -> dict[int, int]:
    """Local process id holding each client port (ports whose owner is not found are left out)."""
    inodes = _socket_inodes_by_port()
    owners = _inode_owners()
    return {port: owners[inodes[port]] for port in ports
            if port in inodes and inodes[port] in owners}


@dataclass
class Connections:
    """What a `ConnectionSampler` saw."""

    samples: int = 0
    peak: int = 0  # connections of the application at once
    peak_by_client: dict[int, int] = field(default_factory=dict)  # client pid → its peak
    backends: set[int] = field(default_factory=set)  # every server backend pid seen
    series: list[tuple[float, int]] = field(default_factory=list)  # (seconds, connections)
    lock_waiters: int = 0  # summed over samples: connections waiting for an advisory lock

    @property
    def mean_lock_waiters(self) -> float:
        """Connections waiting for an advisory lock (the study lock), on average over samples."""
        return self.lock_waiters / self.samples if self.samples else 0.0

    def peak_of(self, pids: set[int]) -> int:
        """The largest per-process peak among `pids` (0 when none of them connected)."""
        return max((self.peak_by_client.get(pid, 0) for pid in pids), default=0)


class ConnectionSampler:
    """Polls `pg_stat_activity` every `every` seconds until stopped (a context manager).

    `connect` holds psycopg.connect keywords for an administrative connection to the server
    (the sampler's own connection carries another application name and is not counted).
    """

    def __init__(self, connect: dict[str, Any], *, application_name: str = APPLICATION_NAME,
                 every: float = 0.05) -> None:
        self.connect, self.application_name, self.every = connect, application_name, every
        self.seen = Connections()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._owners: dict[int, int] = {}  # client port → pid, looked up once per new port
        self._error: BaseException | None = None

    def __enter__(self) -> Self:
        import psycopg

        self._conn = psycopg.connect(**self.connect, autocommit=True,
                                     application_name="connection-sampler")
        self._begun = time.monotonic()
        self._sample()  # the connections before the run: a baseline, and a failing query fails here
        self._thread = threading.Thread(target=self._loop, name="connection-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._conn.close()
        if self._error is not None and exc[0] is None:
            raise RuntimeError(f"sampling pg_stat_activity failed: {self._error}") \
                from self._error

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self._sample()
            except Exception as exc:  # noqa: BLE001 - reported by __exit__
                self._error = exc
                return

    def _sample(self) -> None:
        rows = self._conn.execute(
            "SELECT pid, client_port, wait_event FROM pg_stat_activity "
            "WHERE application_name = %s AND pid <> pg_backend_pid()",
            (self.application_name,)).fetchall()
        seen = self.seen
        seen.samples += 1
        seen.peak = max(seen.peak, len(rows))
        seen.backends.update(pid for pid, _, _ in rows)
        seen.lock_waiters += sum(event == "advisory" for _, _, event in rows)
        seen.series.append((time.monotonic() - self._begun, len(rows)))
        ports = {port for _, port, _ in rows if port is not None and port > 0}
        if ports - self._owners.keys():
            self._owners.update(client_pids(ports - self._owners.keys()))
        per_client = Counter(self._owners[port] for port in ports if port in self._owners)
        for pid, count in per_client.items():
            seen.peak_by_client[pid] = max(seen.peak_by_client.get(pid, 0), count)


def refused_connections(server_log: str) -> list[str]:
    """Lines of a server log where a client was refused for want of a connection slot."""
    return [line for line in server_log.splitlines()
            if any(marker in line.lower() for marker in TOO_MANY)]
