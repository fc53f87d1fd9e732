"""An interrupted test run leaves no PostgreSQL server behind.

A child pytest runs `cluster_waiting.py` (serially, and on two xdist workers); once its cluster
runs, the child gets SIGTERM or SIGINT (or its worker SIGKILL, which only the reaper of
`tests/reaper.py` can answer). Afterwards neither the postmaster nor any process naming the
cluster's directory may be left, and the directory must be gone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import require_or_skip, wait_for
from tests.postgres_cluster import find_pg_bin

REPO = Path(__file__).resolve().parents[1]
CHILD = REPO / "tests" / "cluster_waiting.py"
STOP_S = 90  # the child's finalizers: pg_ctl stop and a directory removal, on a loaded machine

pytestmark = pytest.mark.postgres


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def _processes_naming(text: str) -> list[int]:
    """Processes whose command line holds `text` (a server started with `-D DIR/data`)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def _start_child(tmp_path: Path, workers: str) -> tuple[subprocess.Popen, dict, Path]:
    if find_pg_bin() is None:
        require_or_skip("REQUIRE_POSTGRES", "PostgreSQL server binaries (initdb, pg_ctl) not found")
    marker = tmp_path / "cluster.json"
    env = {**os.environ, "INTERRUPT_MARKER": str(marker),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    log = tmp_path / "child.log"
    with log.open("w") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-n", workers, "-p", "no:cacheprovider", "-q",
             "--basetemp", str(tmp_path / "child-tmp"), str(CHILD)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: marker.exists() or child.poll() is not None, "the child's cluster",
                 timeout=180)
    except BaseException:
        os.killpg(child.pid, signal.SIGKILL)
        raise
    assert marker.exists(), log.read_text()
    return child, json.loads(marker.read_text()), log


def _assert_nothing_left(cluster: dict, log: Path) -> None:
    wait_for(lambda: not _alive(cluster["postmaster"]), "the postmaster to stop", timeout=STOP_S)
    # Server processes, and the reaper itself (its arguments name the directory) once done.
    wait_for(lambda: _processes_naming(cluster["base_dir"]) == [],
             f"no process naming {cluster['base_dir']}:\n{log.read_text()}", timeout=STOP_S)
    wait_for(lambda: not Path(cluster["base_dir"]).exists(), "the cluster's directory to go",
             timeout=STOP_S)


@pytest.mark.parametrize("workers", ["0", "2"], ids=["serial", "xdist"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signalled_run_stops_its_cluster(signum: int, workers: str, tmp_path: Path) -> None:
    child, cluster, log = _start_child(tmp_path, workers)
    try:
        assert _alive(cluster["postmaster"])
        os.kill(child.pid, signum)  # the run's main process, as `kill` or a CI runner does
        child.wait(timeout=STOP_S)
        _assert_nothing_left(cluster, log)
        output = log.read_text()
        assert (tmp_path / "cluster.json.finalized").exists(), output  # not left to the reaper
        assert child.returncode == pytest.ExitCode.INTERRUPTED, output
        assert "KeyboardInterrupt" in output or "keyboard-interrupt" in output, output
        assert "replacing crashed worker" not in output, output  # no new worker to shut down
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def test_a_killed_worker_leaves_its_cluster_to_the_reaper(tmp_path: Path) -> None:
    child, cluster, log = _start_child(tmp_path, "2")
    try:
        assert cluster["pid"] != child.pid  # the test ran in a worker
        started = time.monotonic()
        os.kill(cluster["pid"], signal.SIGKILL)  # no finalizer runs in the worker
        _assert_nothing_left(cluster, log)
        assert time.monotonic() - started < STOP_S
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
