"""Contract test of `storage.optuna_seam.lock` (the study lock) against the installed
versions: an upgrade that changes what the project relies on fails here first."""

from __future__ import annotations

import fcntl
import threading
import time

import optuna
import pytest

from storage import open_storage
from storage import optuna_seam as seam
from storage.optuna_seam.lock import sqlite_lock_file
from tests.storage.optuna_seam.studies import make_study

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def test_study_lock_excludes_another_holder(storage_url: str) -> None:
    study = make_study(storage_url, heartbeat_interval=None)
    other = optuna.load_study(study_name="s", storage=open_storage(storage_url,
                                                                   heartbeat_interval=None))
    order: list[str] = []

    def second() -> None:
        with seam.study_lock(other):
            order.append("second")

    with seam.study_lock(study):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)
        order.append("first")
    thread.join(timeout=10)
    assert order == ["first", "second"]


def test_on_sqlite_the_lock_is_an_flock_on_the_named_file(tmp_path) -> None:
    database = tmp_path / "s.db"
    study = make_study(f"sqlite:///{database}", heartbeat_interval=None)
    with (seam.study_lock(study), open(sqlite_lock_file(database), "a") as probe,
          pytest.raises(BlockingIOError)):
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
