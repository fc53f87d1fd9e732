"""The worker launcher: device planning (no processes started), and with real children under
`python -m study run`: killed by SIGKILL, and through a database outage."""

from __future__ import annotations

import subprocess
import time

import pytest
from optuna.trial import FrozenTrial, TrialState

from study.errors import UserError
from study.execution import launcher
from tests.helpers import wait_for
from tests.postgres_cluster import PostgresCluster
from tests.study.conftest import FINISHED, Cli, load
from tests.study.processes import (
    alive,
    assert_exact_budget,
    cleaned_up,
    in_training,
    pid_of,
    start_group,
    trials_of,
)


def test_cpu_plan_shares_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launcher, "cpu_count", lambda: 8)
    slots = launcher.plan("cpu", None)
    assert [s.label for s in slots] == [f"cpu.{i}" for i in range(8)]
    assert all(s.cuda_visible_devices == "" and s.threads == 1 for s in slots)
    assert [s.threads for s in launcher.plan("cpu", 4)] == [2] * 4
    assert len(launcher.plan("cpu", None, threads=2)) == 4
    monkeypatch.setattr(launcher, "cpu_count", lambda: 64)
    assert len(launcher.plan("cpu", None)) == launcher.MAX_AUTO_CPU_WORKERS
    monkeypatch.setattr(launcher, "cpu_count", lambda: 1)
    assert len(launcher.plan("cpu", None)) == 1


def test_gpu_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launcher, "cpu_count", lambda: 16)
    slots = launcher.plan("0,2", 2)
    assert [(s.label, s.cuda_visible_devices) for s in slots] == [
        ("cuda0.0", "0"), ("cuda0.1", "0"), ("cuda2.0", "2"), ("cuda2.1", "2")]
    assert all(s.threads == 4 for s in slots)
    env = launcher.slot_environment(slots[1], {})
    assert env["CUDA_VISIBLE_DEVICES"] == "0" and env["STUDY_THREADS"] == "4"


def test_auto_uses_visible_gpus_or_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    assert [s.label for s in launcher.plan("auto", 1)] == ["cuda3.0"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert [s.label for s in launcher.plan("auto", 1)] == ["cpu.0"]


@pytest.mark.parametrize("devices", ["gpu", "0,x", ","])
def test_bad_devices(devices: str) -> None:
    with pytest.raises(UserError, match="--devices"):
        launcher.plan(devices, None)


# --- the launcher with real children (`python -m study run`) ---------------------------------

TWO_PROCESSES = ("--devices", "cpu", "--per-device", "2")
NO_REPLICATES = ("--replicate-seeds", "0")


def _two_running(url: str, proc: subprocess.Popen) -> list[FrozenTrial]:
    wait_for(lambda: len(in_training(url)) == 2 or proc.poll() is not None,
             "two trials running", timeout=120)
    running = in_training(url)
    assert len(running) == 2, proc.communicate()[1]
    return running


@pytest.mark.slow
def test_killed_launcher_leaves_no_orphan(cli: Cli) -> None:
    """SIGKILL gives the launcher no chance to stop its children: they watch it themselves."""
    url = f"sqlite:///{cli.cwd / 'studies.db'}"
    proc = start_group(cli, "run", "--objective", "mock", "--n-trials", "6", *TWO_PROCESSES,
                       *NO_REPLICATES, env={"STUDY_MOCK_DELAY": "60"})
    with cleaned_up(proc):
        running = _two_running(url, proc)
        children = {pid_of(t) for t in running}
        proc.kill()
        proc.wait(timeout=10)
        wait_for(lambda: not any(alive(pid) for pid in children),
                 f"the orphaned workers {sorted(children)} to stop", timeout=15)
    trials = load(url).trials
    assert [trials[t.number].state for t in running] == [TrialState.FAIL] * 2
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    again = cli.run("run", *TWO_PROCESSES, env={"STUDY_MOCK_DELAY": "0.3"}, timeout=180)
    assert "6 finished search trials of a budget of 6" in again.stdout, again.stderr
    assert_exact_budget(load(url).trials, 6)


@pytest.mark.slow
@pytest.mark.postgres
def test_launcher_rides_out_a_database_outage(cli: Cli, postgres_db_url: str,
                                              postgres_cluster: PostgresCluster) -> None:
    """PostgreSQL down for 15 s: the progress poll fails, the launcher stays and says so."""
    url, budget = postgres_db_url, 8
    proc = start_group(cli, "run", "--storage", url, "--objective", "mock", "--n-trials",
                       str(budget), "--pruner", "none", *TWO_PROCESSES, *NO_REPLICATES,
                       env={"STUDY_MOCK_DELAY": "3"})
    with cleaned_up(proc):
        wait_for(lambda: sum(t.state in FINISHED for t in trials_of(url)) >= 2
                 and len(in_training(url)) == 2, "2 finished and 2 running trials", timeout=120)
        postgres_cluster.stop()
        try:
            down = time.monotonic()
            while time.monotonic() - down < 15:
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.5)
        finally:
            postgres_cluster.start()
        out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    assert "progress: storage unavailable" in err and "storage answers again" in err, err
    assert f"{budget} finished search trials of a budget of {budget}" in out, out
    assert "Traceback" not in err and postgres_cluster.password not in out + err
    assert_exact_budget(load(url).trials, budget)
