"""A usable Docker daemon for the `docker`-marked tests: the running one, or one this session
starts (as root, overlay2, else vfs) and stops again. Skipped with a reason when Docker is unusable,
unless REQUIRE_DOCKER=1 (CI), where that fails instead."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import require_or_skip

TOOLS = ("docker", "docker-compose")
DAEMON_START_S = 60


def daemon_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20,
                              check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _start_dockerd(driver: str, log: Path) -> subprocess.Popen | None:
    """dockerd with no iptables and no bridge (containers use host networking); None if it
    does not answer in time."""
    with log.open("ab") as out:
        proc = subprocess.Popen(["dockerd", "--iptables=false", "--bridge=none",
                                 f"--storage-driver={driver}"], stdout=out, stderr=out,
                                start_new_session=True)
    deadline = time.monotonic() + DAEMON_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        if daemon_answers():
            return proc
        time.sleep(1)
    _stop_dockerd(proc)
    return None


def _stop_dockerd(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # dockerd stops its containers and its containerd
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session")
def docker_daemon() -> Iterator[None]:
    """A Docker daemon that answers; one started here is stopped at the end of the session."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        require_or_skip("REQUIRE_DOCKER", f"{', '.join(missing)} not on PATH (Debian: apt-get "
                        "install docker.io docker-compose debootstrap)")
    if daemon_answers():
        yield
        return
    if shutil.which("dockerd") is None or os.geteuid() != 0:
        require_or_skip("REQUIRE_DOCKER", "no Docker daemon answers, and this user cannot start "
                        "dockerd (needs root)")
    log = Path(tempfile.mkdtemp(prefix="dockerd-log-")) / "dockerd.log"
    proc = _start_dockerd("overlay2", log) or _start_dockerd("vfs", log)
    if proc is None:
        tail = log.read_text(errors="replace")[-2000:]
        require_or_skip("REQUIRE_DOCKER",
                        f"dockerd did not start with overlay2 or vfs; its log ends:\n{tail}")
    try:
        yield
    finally:
        _stop_dockerd(proc)
