"""Fixtures of the SLURM tests: a one-node cluster for the module, and what a job needs.

Skipped without root or the SLURM and munge daemons, unless REQUIRE_SLURM=1 (CI), where that is
a failure: there the tests run for real.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.slurm.cluster import SlurmCluster, require_slurm
from tests.study.conftest import CLEARED, REPO

DEPLOY = REPO / "deploy" / "slurm"


@pytest.fixture(scope="module")
def slurm() -> Iterator[SlurmCluster]:
    require_slurm()
    cluster = SlurmCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture
def job_env(tmp_path: Path, postgres_db_url: str) -> dict[str, str]:
    """What the submitting shell exports: the storage, the shared directories and a PATH on
    which `recon-study` (this environment's console script) is found; none of the caller's
    study settings."""
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    bin_dir = str(Path(sys.executable).parent)
    return {**env, "STUDY_STORAGE": postgres_db_url, "PATH": os.pathsep.join(
                [bin_dir, env.get("PATH", os.defpath)]),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
            "STUDY_CACHE_DIR": str(tmp_path / "cache"), "STUDY_MODEL_DIR": str(tmp_path / "models")}
