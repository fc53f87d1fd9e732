"""Fixtures of the several-hosts tests: a private network of namespaces with PostgreSQL in `db`.

`site` gives a test three hosts (h1, h2, h3), each with its own working directory, feature cache
and model directory, a throwaway PostgreSQL listening on the LAN address of `db`, and the real
command line on each host. Skipped without root, iproute2 or PostgreSQL's server binaries, unless
REQUIRE_NETNS=1 (CI), where that is a failure. Whatever the test does, every process it started
is killed and every namespace it made is deleted; the teardown checks that none is left.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import require_or_skip
from tests.hosts.database import NamespacedCluster, Standby, make_synchronous, worker_url
from tests.hosts.network import (
    DB_ADDRESS,
    STANDBY_ADDRESS,
    Host,
    Network,
    namespaces_left,
    require_netns,
)
from tests.postgres_cluster import find_pg_bin
from tests.study.conftest import CLEARED, REPO

DATABASE = "study"
HEARTBEAT = ("--heartbeat-interval", "1", "--heartbeat-grace", "4")


@dataclass
class Site:
    """The network, its database and what each host runs."""

    network: Network
    primary: NamespacedCluster
    url: str  # what the hosts use (over the LAN)
    test_url: str  # what the test uses (the server's Unix socket: no network involved)
    standby: Standby | None = None
    base_env: dict[str, str] = field(default_factory=dict)

    @property
    def hosts(self) -> list[Host]:
        return self.network.hosts

    def env(self, host: Host, **extra: str) -> dict[str, str]:
        """A host's environment: its own cache and model directories, trials named after it."""
        return {**self.base_env, "STUDY_CACHE_DIR": str(host.workdir / "cache"),
                "STUDY_MODEL_DIR": str(host.workdir / "models"), "STUDY_WORKER_ID": host.name,
                **extra}

    def study(self, host: Host, *args: str, **env: str) -> subprocess.CompletedProcess:
        """`python -m study ARGS --storage URL` on `host`, to the end."""
        return host.run([sys.executable, "-m", "study", *args, "--storage", self.url],
                        self.env(host, **env))

    def worker(self, host: Host, mock_delay: str) -> subprocess.Popen:
        """One worker process on `host` (its own process group, killed at teardown)."""
        return host.popen([sys.executable, "-m", "study", "worker", "--storage", self.url,
                           "--devices", "cpu", "--per-device", "1", *HEARTBEAT],
                          self.env(host, STUDY_MOCK_DELAY=mock_delay))


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Network]:
    require_netns()
    if find_pg_bin() is None:
        require_or_skip("REQUIRE_POSTGRES", "PostgreSQL server binaries (initdb, pg_ctl) not found")
    net = Network(tmp_path, n_hosts=3)
    try:
        yield net
    finally:
        net.close()
        assert namespaces_left(net.prefix) == []


def _site(network: Network, *, standby: bool) -> Iterator[Site]:
    primary = NamespacedCluster(network.db, DB_ADDRESS)
    replica: Standby | None = None
    try:
        primary.start()
        primary.create_database(DATABASE)
        if standby:
            replica = Standby(primary, STANDBY_ADDRESS)
            replica.start()
            make_synchronous(primary, replica)
        url = worker_url(primary, DATABASE, failover_to=STANDBY_ADDRESS if standby else None)
        yield Site(network, primary, url, primary.socket_url(DATABASE), replica, _base_env())
    finally:
        try:
            network.stop_processes()  # no host process outlives the servers
        finally:
            try:
                if replica is not None:
                    replica.cleanup()
            finally:
                primary.cleanup()  # before the `network` fixture deletes the namespaces


@pytest.fixture
def site(network: Network) -> Iterator[Site]:
    """Three hosts and one PostgreSQL server."""
    yield from _site(network, standby=False)


@pytest.fixture
def replicated_site(network: Network) -> Iterator[Site]:
    """Three hosts, a primary and a synchronous standby (hosts list both: libpq fails over)."""
    yield from _site(network, standby=True)
