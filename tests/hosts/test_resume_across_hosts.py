"""A worker SIGKILLed on host h2 after its trial's first resume checkpoint: the retry, run on h3,
resumes at the checkpointed epoch from the study's artifact store (a directory both hosts see at
one path, as a shared mount), with PostgreSQL in its own namespace and the real LSTM objective.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.helpers import wait_for
from tests.hosts.checks import worker_of
from tests.hosts.conftest import HEARTBEAT, Site
from tests.hosts.network import Host
from tests.study.processes import assert_exact_budget, finish, retried_from, trials_of
from tests.study.test_resume_retry import saved_epochs

EPOCHS = 8
EVERY = 2  # a resume checkpoint after epochs 2, 4, 6
pytestmark = [pytest.mark.slow, pytest.mark.netns, pytest.mark.postgres,
              pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")]


def _worker(site: Site, host: Host) -> subprocess.Popen:
    return host.popen([sys.executable, "-m", "study", "worker", "--storage", site.url,
                       "--devices", "cpu", "--per-device", "1", *HEARTBEAT],
                      site.env(host, STUDY_RESUME_EVERY=str(EVERY)))


def test_a_trial_killed_on_one_host_resumes_on_another_from_the_shared_store(
        site: Site, tmp_path: Path) -> None:
    h1, h2, h3 = site.hosts
    store = tmp_path / "shared-artifacts"
    created = site.study(h1, "create", "--data", "synthetic:6", "--max-epochs", str(EPOCHS),
                         "--pruner", "none", "--replicate-seeds", "0", "--n-trials", "1",
                         "--artifacts", str(store))
    assert created.returncode == 0, created.stderr
    checkpoint = store / "resume" / "recon-lambda" / "trial_00000.ckpt"

    first = _worker(site, h2)
    wait_for(checkpoint.is_file, "h2's first resume checkpoint", timeout=240)
    os.killpg(first.pid, signal.SIGKILL)  # the worker and its trial process, no clean-up
    first.communicate(timeout=30)
    kept = saved_epochs(checkpoint)
    killed = trials_of(site.test_url)[0]
    assert killed.state == TrialState.RUNNING and worker_of(killed) == h2.name
    assert len(kept) % EVERY == 0 and EVERY <= len(kept) < EPOCHS

    second = _worker(site, h3)
    errors = finish([second], timeout=400)
    assert second.returncode == 0, errors
    trials = trials_of(site.test_url)
    assert_exact_budget(trials, 1)
    original, retry = trials
    assert original.state == TrialState.FAIL and retried_from(retry) == 0
    assert retry.state == TrialState.COMPLETE and worker_of(retry) == h3.name
    # Resumed at h2's checkpoint: the restored epochs are its values, the rest trained on h3.
    assert retry.user_attrs["resumed_at"] == len(kept) and retry.user_attrs["epochs"] == EPOCHS
    assert sorted(retry.intermediate_values) == list(range(EPOCHS))
    assert [retry.intermediate_values[e] for e in range(len(kept))] == kept
    assert retry.user_attrs["seed"] == original.user_attrs["seed"]
    assert not checkpoint.exists()  # deleted when the trial finished
