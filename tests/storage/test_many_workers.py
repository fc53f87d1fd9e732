"""32 worker processes against one PostgreSQL whose `max_connections` is the README's formula.

Two launchers, as on two hosts — `python -m study run --per-device 16` (it polls progress) and
`python -m study worker --per-device 16` — serve one mocked study through both phases. The
service logs in as an ordinary role, so the server lets it hold exactly
`max_connections - superuser_reserved_connections` connections: the formula's count, not one
more. Any connection beyond it would be refused (a FATAL line in the server log, a storage
warning from the worker). Connections are counted from the server side (`pg_stat_activity`,
sampled every 50 ms, per client process) by a superuser connection in a reserved slot.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import require_or_skip
from tests.postgres_cluster import PostgresCluster, find_pg_bin
from tests.postgres_connections import ConnectionSampler, refused_connections
from tests.study.conftest import CLEARED, REPO, Cli
from tests.study.processes import assert_exact_budget, cleaned_up, finish, start_group, trials_of

pytestmark = [pytest.mark.postgres, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")]

WORKERS = 32
COMMANDS, RUNS = 2, 1  # `run` and `worker`, each starting 16 workers; one of them is `run`
# README "Where studies are stored": max_connections >= 2 × (W + C) + 2 × R + 3.
FORMULA = 2 * (WORKERS + COMMANDS) + 2 * RUNS
RESERVED = 3  # PostgreSQL's superuser_reserved_connections (default); the sampler uses one
BUDGET = 64
ROLE, DATABASE = "study", "many"


@pytest.fixture
def tight_cluster() -> Iterator[PostgresCluster]:
    """A cluster of its own whose max_connections leaves the service role the formula's count."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        require_or_skip("REQUIRE_POSTGRES", "PostgreSQL server binaries (initdb, pg_ctl) not found")
    cluster = PostgresCluster(bin_dir, settings={"max_connections": str(FORMULA + RESERVED)})
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


def test_32_workers_stay_within_the_connection_formula(tight_cluster: PostgresCluster,
                                                       tmp_path: Path) -> None:
    password = "pw" + os.urandom(8).hex()
    tight_cluster._admin(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{password}'")  # not a superuser
    tight_cluster._admin(f"CREATE DATABASE {DATABASE} OWNER {ROLE}")
    url = (f"postgresql+psycopg://{ROLE}:{password}@{tight_cluster.host}:{tight_cluster.port}/"
           f"{DATABASE}")
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update(PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
               STUDY_CACHE_DIR=str(tmp_path / "cache"), STUDY_MODEL_DIR=str(tmp_path / "models"),
               STUDY_STORAGE=url, STUDY_MOCK_DELAY="0.1")
    cli = Cli(env, tmp_path)
    study = ("--objective", "mock", "--data", "synthetic", "--profile", "quick")
    cli.run("create", *study, "--pruner", "none", "--n-trials", str(BUDGET),
            "--replicate-seeds", "1", "--max-seeds", "1")
    launch = ("--devices", "cpu", "--per-device", str(WORKERS // 2), "--quiet")
    with ConnectionSampler(tight_cluster.connect_kwargs(DATABASE)) as sampler:
        procs = [start_group(cli, "run", *study, *launch), start_group(cli, "worker", *launch)]
        with cleaned_up(*procs):
            # 165 s within the whole suite on a 2-core machine; 240 s once ran out in CI.
            errors = finish(procs, timeout=400)
    seen, (run, worker) = sampler.seen, procs
    for proc, stderr in zip(procs, errors):
        assert proc.returncode == 0, stderr[-3000:]
    assert refused_connections(tight_cluster.log_file.read_text()) == []
    assert not any("storage error" in stderr or "too many" in stderr for stderr in errors)

    assert_exact_budget(trials_of(url), BUDGET)
    # Every process connected: both commands and all 32 trial processes; each within its share.
    peaks = seen.peak_by_client
    assert len(peaks) >= WORKERS + 1 and run.pid in peaks, peaks
    assert peaks[run.pid] <= 2 and peaks.get(worker.pid, 0) <= 2, peaks
    assert seen.peak_of(set(peaks) - {run.pid, worker.pid}) <= 2, peaks
    assert seen.peak <= FORMULA
