"""Helpers of the fault tests: commands in their own process group, the pids of the workers that
ran trials, whether a pid is gone, and the checks every fault test makes on the study afterwards.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from optuna.trial import FrozenTrial, TrialState

from storage import retried_from
from tests.study.conftest import FINISHED, Cli, load


def start_group(cli: Cli, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`python -m study ARGS` as the leader of a new process group (what a terminal's Ctrl-C
    signals: the command and every worker process it started)."""
    return subprocess.Popen(cli.argv(*args), env={**cli.env, **(env or {})}, cwd=cli.cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


@contextlib.contextmanager
def cleaned_up(*procs: subprocess.Popen) -> Iterator[None]:
    """Whatever the test asserts, no process group it started outlives it."""
    try:
        yield
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, exited but not reaped by its new parent, is gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def pid_of(trial: FrozenTrial) -> int | None:
    worker = trial.user_attrs.get("worker")  # host:pid[:slot]
    return int(worker.split(":")[1]) if worker else None


def slot_of(trial: FrozenTrial) -> str | None:
    parts = str(trial.user_attrs.get("worker", "")).split(":")
    return parts[2] if len(parts) > 2 else None


def trials_of(url: str, name: str = "recon-lambda") -> list[FrozenTrial]:
    """The study's trials, or none while the study (or its file) does not exist yet."""
    try:
        return load(url, name).trials
    except Exception:  # noqa: BLE001 - not created yet: a missing file, table or study
        return []


def in_training(url: str, name: str = "recon-lambda") -> list[FrozenTrial]:
    """RUNNING trials that have reported an epoch: their worker is inside training."""
    return [t for t in trials_of(url, name)
            if t.state == TrialState.RUNNING and t.intermediate_values and pid_of(t)]


def finish(procs: list[subprocess.Popen], timeout: float = 150) -> list[str]:
    """Each process's stderr once all have exited (killing all after `timeout`)."""
    errors = []
    for proc in procs:
        try:
            errors.append(proc.communicate(timeout=timeout)[1])
        except subprocess.TimeoutExpired:
            for other in procs:
                other.kill()
            raise AssertionError("a process did not finish in time") from None
    return errors


def assert_exact_budget(trials: list[FrozenTrial], budget: int) -> Counter:
    states = Counter(t.state for t in trials)
    assert states[TrialState.COMPLETE] + states[TrialState.PRUNED] == budget, states
    assert states[TrialState.RUNNING] == 0 and states[TrialState.WAITING] == 0, states
    assert len({t.number for t in trials}) == len(trials)
    return states


def assert_failures_retried(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Every FAIL trial was re-run exactly once, with its parameters; returns the failed trials."""
    failed = [t for t in trials if t.state == TrialState.FAIL]
    for original in failed:
        retries = [t for t in trials if retried_from(t) == original.number]
        assert len(retries) == 1, (original.number, [t.number for t in retries])
        # A trial cut off while suggesting has fewer parameters; the retry suggests the rest.
        assert original.params.items() <= retries[0].params.items()
        assert retries[0].state in FINISHED or retries[0].state == TrialState.FAIL
    return failed
