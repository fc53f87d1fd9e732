"""A small private network of Linux network namespaces: one LAN, a database and some hosts.

The namespace `db` holds a bridge (the LAN's switch) with the database addresses; every host
namespace is joined to it by a veth pair, its end inside the host named `eth0`. Addresses are
private (10.213.0.0/24) and exist only inside these namespaces: nothing is routed to or from
the machine's own network, so no traffic leaves it. Each veth pair is created from inside `db`
with its peer moved straight into the host, so no interface name ever appears in the root
namespace (test runs of other worktrees cannot collide on one).

`Network.close()` kills every process group started in its hosts and deletes every namespace it
made (which deletes their links too); the fixtures call it whatever the test did.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests import reaper
from tests.helpers import require_or_skip

SUBNET = "10.213.0"
DB_ADDRESS = f"{SUBNET}.1"  # the primary PostgreSQL listens here
STANDBY_ADDRESS = f"{SUBNET}.2"  # a standby, for the failover scenario
BRIDGE = "lan0"
HOST_DEVICE = "eth0"  # a host's end of its link, inside its namespace
STOP_WAIT_S = 10.0


def require_netns() -> None:
    """Skip (fail with REQUIRE_NETNS=1) unless this process may create namespaces and veths."""
    if os.geteuid() != 0:
        require_or_skip("REQUIRE_NETNS", "network namespaces need root")
    if shutil.which("ip") is None:
        require_or_skip("REQUIRE_NETNS", "the `ip` command (iproute2) is not installed")
    probe = f"rlsprobe{os.getpid()}{secrets.token_hex(2)}"
    made = subprocess.run(["ip", "netns", "add", probe], check=False, capture_output=True,
                          text=True)
    if made.returncode != 0:
        require_or_skip("REQUIRE_NETNS", f"cannot create a network namespace: "
                        f"{made.stderr.strip()}")
    try:
        bridge = subprocess.run(["ip", "-n", probe, "link", "add", BRIDGE, "type", "bridge"],
                                check=False, capture_output=True, text=True)
        if bridge.returncode != 0:
            require_or_skip("REQUIRE_NETNS", f"cannot create a bridge: {bridge.stderr.strip()}")
    finally:
        subprocess.run(["ip", "netns", "del", probe], check=False, capture_output=True)


def ip(*args: str) -> None:
    """Run `ip ARGS`; a failure raises with ip's own message."""
    done = subprocess.run(["ip", *args], check=False, capture_output=True, text=True,
                          timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


@dataclass
class Host:
    """A host namespace: its address, its own working directory, and the processes run in it."""

    name: str  # h1, h2, ...
    namespace: str
    address: str
    link: str  # the link's end inside `db` (deleting it removes the host from the LAN)
    workdir: Path
    processes: list[subprocess.Popen] = field(default_factory=list)

    def argv(self, argv: Sequence[str]) -> list[str]:
        # `ip netns exec` enters the namespace and execs the command: the Popen pid is its pid.
        return ["ip", "netns", "exec", self.namespace, *argv]

    def popen(self, argv: Sequence[str], env: dict[str, str]) -> subprocess.Popen:
        """`argv` inside this host, as the leader of a new process group (stopped at close)."""
        proc = subprocess.Popen(self.argv(argv), env=env, cwd=self.workdir,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        self.processes.append(proc)
        return proc

    def run(self, argv: Sequence[str], env: dict[str, str],
            timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(argv), env=env, cwd=self.workdir, capture_output=True,
                              text=True, timeout=timeout, check=False)

    def signal_all(self, signum: int) -> None:
        """`signum` to every process group started in this host that still runs."""
        for proc in self.processes:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signum)

    def partition(self) -> None:
        """The host's link goes down: it reaches nothing, and nothing reaches it."""
        ip("-n", self.namespace, "link", "set", HOST_DEVICE, "down")

    def heal(self) -> None:
        ip("-n", self.namespace, "link", "set", HOST_DEVICE, "up")


class Network:
    """The namespaces of one test: `db` with the LAN's bridge, and hosts `h1`, `h2`, ..."""

    def __init__(self, root: Path, n_hosts: int) -> None:
        self.prefix = f"rls{os.getpid()}{secrets.token_hex(2)}"
        self.root = root
        self.namespaces: list[str] = []
        self.hosts: list[Host] = []
        # Should this process die without close(): kill what runs in each namespace, delete it.
        self._reaper = reaper.watch([reaper.Command(
            ["sh", "-c", f"ip netns pids {name} | xargs -r kill -KILL; ip netns del {name}"])
            for name in (f"{self.prefix}-{suffix}" for suffix in
                         ("db", *(f"h{number}" for number in range(1, n_hosts + 1))))])
        try:
            self.db = self._namespace("db")
            ip("-n", self.db, "link", "add", BRIDGE, "type", "bridge")
            for address in (DB_ADDRESS, STANDBY_ADDRESS):
                ip("-n", self.db, "addr", "add", f"{address}/24", "dev", BRIDGE)
            ip("-n", self.db, "link", "set", BRIDGE, "up")
            for number in range(1, n_hosts + 1):
                self.hosts.append(self._host(number))
        except BaseException:
            self.close()  # what was made so far
            raise

    def _namespace(self, suffix: str) -> str:
        name = f"{self.prefix}-{suffix}"
        ip("netns", "add", name)
        self.namespaces.append(name)
        ip("-n", name, "link", "set", "lo", "up")
        return name

    def _host(self, number: int) -> Host:
        name = f"h{number}"
        namespace = self._namespace(name)
        link, address = f"veth{number}", f"{SUBNET}.{10 + number}"
        ip("-n", self.db, "link", "add", link, "type", "veth", "peer", "name", HOST_DEVICE,
           "netns", namespace)
        ip("-n", self.db, "link", "set", link, "master", BRIDGE, "up")
        ip("-n", namespace, "addr", "add", f"{address}/24", "dev", HOST_DEVICE)
        ip("-n", namespace, "link", "set", HOST_DEVICE, "up")
        workdir = self.root / name
        workdir.mkdir(parents=True)
        return Host(name, namespace, address, link, workdir)

    def remove(self, host: Host) -> None:
        """The host's link is deleted (both ends): the host is gone from the LAN for good."""
        ip("-n", self.db, "link", "del", host.link)

    def in_db(self, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.db, *argv]

    def stop_processes(self) -> None:
        """Kill every process group started in a host (frozen ones too) and reap them."""
        procs = [proc for host in self.hosts for proc in host.processes]
        for host in self.hosts:
            host.signal_all(signal.SIGKILL)
        deadline = time.monotonic() + STOP_WAIT_S
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))

    def close(self) -> None:
        """Kill every process group started in a host, then delete every namespace."""
        self.stop_processes()
        errors = []
        for name in reversed(self.namespaces):
            done = subprocess.run(["ip", "netns", "del", name], check=False,
                                  capture_output=True, text=True)
            if done.returncode != 0:
                errors.append(f"{name}: {done.stderr.strip()}")
        self.namespaces.clear()
        if errors:  # the reaper tries again when this process ends
            raise RuntimeError(f"namespaces not deleted: {errors}")
        self._reaper.cancel()


def namespaces_left(prefix: str) -> list[str]:
    """Namespaces whose name starts with `prefix` (what a test must have deleted)."""
    listed = subprocess.run(["ip", "netns", "list"], check=False, capture_output=True,
                            text=True).stdout
    return [line.split()[0] for line in listed.splitlines() if line.startswith(prefix)]
