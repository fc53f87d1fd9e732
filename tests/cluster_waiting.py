"""Not collected by the suite (no `test_` prefix): the child run of `test_interrupted_run.py`.

Its one test starts the session's PostgreSQL cluster, writes where it is (this process, the
postmaster, the cluster's directory) to `$INTERRUPT_MARKER`, then waits to be interrupted. A
session fixture's finalizer writes `$INTERRUPT_MARKER.finalized`: the parent tells by it that
the run ended through its finalizers, not through a reaper.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres_cluster import PostgresCluster


@pytest.fixture(scope="session")
def finalized() -> Iterator[None]:
    yield
    Path(os.environ["INTERRUPT_MARKER"] + ".finalized").write_text("")


def test_waits_with_a_running_cluster(finalized: None, postgres_cluster: PostgresCluster) -> None:
    postmaster = int((postgres_cluster.data_dir / "postmaster.pid").read_text().split()[0])
    marker = Path(os.environ["INTERRUPT_MARKER"])
    partial = marker.with_suffix(".partial")
    partial.write_text(json.dumps({"pid": os.getpid(), "postmaster": postmaster,
                                   "base_dir": str(postgres_cluster.base_dir)}))
    partial.rename(marker)  # the parent never reads half a file
    time.sleep(300)
    raise AssertionError("not interrupted within 300 s")
