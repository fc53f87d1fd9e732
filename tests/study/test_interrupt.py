"""Ctrl-C (SIGINT) / SIGTERM stop workers within seconds and leave no trial RUNNING."""

from __future__ import annotations

import json
import signal
import time

import pytest
from optuna.trial import TrialState

from tests.helpers import wait_for
from tests.study.conftest import Cli, load


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("per_device", ["1", "2"])  # in-process worker; launcher with children
def test_signal_fails_running_trials(cli: Cli, per_device: str, signum: signal.Signals) -> None:
    url = f"sqlite:///{cli.cwd / 'studies.db'}"
    cli.run("create", "--storage", url, "--objective", "mock")
    proc = cli.popen("worker", "--storage", url, "--n-trials", "50", "--devices", "cpu",
                     "--per-device", per_device, "--quiet", env={"STUDY_MOCK_DELAY": "60"})
    wait_for(lambda: sum(t.state == TrialState.RUNNING for t in load(url).trials)
             >= int(per_device), f"{per_device} trials to run at once")
    status = json.loads(cli.run("status", "--storage", url, "--format", "json").stdout)
    assert status["workers_alive"] == int(per_device) and status["stale_running_trials"] == 0
    started = time.monotonic()
    proc.send_signal(signum)  # SIGINT: what Ctrl-C sends
    _, err = proc.communicate(timeout=60)
    assert time.monotonic() - started < 15, err
    assert proc.returncode == 130, err
    trials = load(url).trials
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert sum(t.state == TrialState.FAIL for t in trials) == int(per_device)
