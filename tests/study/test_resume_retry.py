"""A worker killed after its trial's first resume checkpoint: the retry, run by another worker
process in another working directory, resumes at the checkpointed epoch from the shared store.

Real parts: two `python -m study worker` processes (each in its own session, the first SIGKILLed
with its trial process), SQLite, the real LSTM objective on synthetic clips, heartbeats and the
stale-trial retry; only the artifact directory is shared, as an NFS mount would be.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
import torch
from optuna.trial import TrialState

from tests.helpers import wait_for
from tests.study.conftest import Cli, load
from tests.study.processes import assert_exact_budget, cleaned_up, finish, retried_from

EPOCHS = 8
EVERY = 2  # a resume checkpoint after epochs 2, 4, 6
HEARTBEAT = ("--heartbeat-interval", "1", "--heartbeat-grace", "4")


def _worker(cli: Cli, url: str, home: Path) -> subprocess.Popen:
    """A worker in its own directory and session, with its own caches (another host's disk)."""
    home.mkdir()
    env = {**cli.env, "STUDY_CACHE_DIR": str(home / "cache"),
           "STUDY_MODEL_DIR": str(home / "models"), "STUDY_RESUME_EVERY": str(EVERY)}
    return subprocess.Popen(cli.argv("worker", "--storage", url, "--devices", "cpu",
                                     "--per-device", "1", *HEARTBEAT),
                            env=env, cwd=home, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def saved_epochs(path: Path) -> list[float]:
    """The validation curve a resume checkpoint holds (one value per epoch trained)."""
    return torch.load(path, map_location="cpu", weights_only=True)["val_curve"]


@pytest.mark.slow
def test_killed_trial_resumes_on_another_worker_at_the_checkpointed_epoch(cli: Cli) -> None:
    url = f"sqlite:///{cli.cwd / 'studies.db'}"
    store = cli.cwd / "shared_store"
    cli.run("create", "--storage", url, "--data", "synthetic:6", "--max-epochs", str(EPOCHS),
            "--pruner", "none", "--replicate-seeds", "0", "--n-trials", "1",
            "--artifacts", str(store))
    checkpoint = store / "resume" / "recon-lambda" / "trial_00000.ckpt"
    first = _worker(cli, url, cli.cwd / "host_a")
    with cleaned_up(first):
        wait_for(checkpoint.is_file, "the first resume checkpoint", timeout=240)
        os.killpg(first.pid, signal.SIGKILL)  # the worker and its trial process, no clean-up
        first.communicate(timeout=30)
    kept = saved_epochs(checkpoint)
    killed = load(url).trials[0]
    assert killed.state == TrialState.RUNNING  # left behind: only its heartbeat can tell
    assert len(kept) % EVERY == 0 and EVERY <= len(kept) < EPOCHS
    trained_before_kill = len(killed.intermediate_values)
    assert trained_before_kill >= len(kept)

    second = _worker(cli, url, cli.cwd / "host_b")
    with cleaned_up(second):
        errors = finish([second], timeout=400)
    assert second.returncode == 0, errors

    trials = load(url).trials
    assert_exact_budget(trials, 1)
    original, retry = trials[0], trials[1]
    assert original.state == TrialState.FAIL and retried_from(retry) == 0
    assert retry.state == TrialState.COMPLETE
    attrs = retry.user_attrs
    # Resumed at the checkpointed epoch: only the epochs after it were trained again.
    assert attrs["resumed_at"] == len(kept) and attrs["epochs"] == EPOCHS
    assert attrs["worker"] != original.user_attrs["worker"]
    # Every epoch once; the restored ones are the checkpoint's values.
    assert sorted(retry.intermediate_values) == list(range(EPOCHS))
    assert [retry.intermediate_values[e] for e in range(len(kept))] == kept
    assert attrs["val_curve"] == [retry.intermediate_values[e] for e in range(EPOCHS)]
    assert retry.value == max(attrs["val_curve"])
    # The same seed as the original: the resumed run continues the original's.
    assert attrs["seed"] == original.user_attrs["seed"]
    assert not checkpoint.exists()  # deleted when the trial finished
    assert not list((store / "resume" / "recon-lambda").iterdir())
