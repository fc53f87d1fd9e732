"""Session-wide fixtures: a throwaway PostgreSQL cluster (`postgres_cluster`, `postgres_url`,
`postgres_db_url`), skipped when the server binaries are missing unless REQUIRE_POSTGRES=1, and
`storage_url`, a fresh storage of each backend.

The suite runs on pytest-xdist workers (pyproject's addopts). Each worker has its own cluster
(own port, own temp dir). The tests that share the machine's kernel, network or daemons (the
several-hosts tests in network namespaces, the SLURM cluster, Docker compose) form one
`xdist_group` and so run one after the other on one worker.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import interrupts
from tests.helpers import require_or_skip
from tests.postgres_cluster import PostgresCluster, find_pg_bin

_db_counter = itertools.count()

# Tests that use machine-wide state: network namespaces and veth links (tests/hosts), a SLURM node
# with its munge and daemons (tests/slurm), the Docker daemon and its images (tests/docker). They
# run one after the other on one worker. Grouped by path in the controller (which sees node ids,
# not markers): pytest 9.2 ignores the node-id suffix by which xdist's own `xdist_group` mark
# groups tests (pytest-xdist issue 1386), so that mark would silently do nothing.
MACHINE_GROUP = "machine"
MACHINE_PATHS = ("tests/hosts/", "tests/slurm/", "tests/docker/")
MACHINE_MARKERS = ("netns", "slurm", "docker")
# Modules whose tests share one expensive module-scoped fixture (a trained study, a report, a
# feature cache): spread over workers, each worker built it again (the dashboard's study three
# times, 140 s each beside other load). Their tests run on one worker, in order.
SHARED_FIXTURE_MODULES = (
    "tests/study/commands/test_dashboard.py",
    "tests/study/reporting/test_figures.py",
    "tests/study/reporting/test_report.py",
    "tests/study/test_interrupt.py",
    "tests/study/test_model_store.py",
    "tests/study/test_storage_errors.py",
)


def pytest_sessionstart(session: pytest.Session) -> None:
    # Here, not in pytest_configure: by now xdist has registered its controller ("dsession").
    interrupts.install(session.config)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """`--dist loadgroup` (pyproject's addopts), with the machine-wide tests as one group and
    each module of SHARED_FIXTURE_MODULES as one."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class MachineGroupScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith(MACHINE_PATHS):
                return MACHINE_GROUP
            module = nodeid.partition("::")[0]
            return module if module in SHARED_FIXTURE_MODULES else nodeid

    return MachineGroupScheduling(config, log)


def pytest_itemcollected(item: pytest.Item) -> None:
    # A test of that kind elsewhere would run beside the group: keep them where the group is.
    marked = [name for name in MACHINE_MARKERS if item.get_closest_marker(name)]
    if marked and not item.nodeid.startswith(MACHINE_PATHS):
        raise pytest.UsageError(f"{item.nodeid} is marked {', '.join(marked)}: move it under "
                                f"{' or '.join(MACHINE_PATHS)} so that it runs in the "
                                f"{MACHINE_GROUP!r} worker group")


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A running PostgreSQL 15 cluster on 127.0.0.1 (stopped and deleted at session end).

    A test that stops the server must start it again (`postgres_db_url` does so for the next test).
    """
    bin_dir = find_pg_bin()
    if bin_dir is None:
        require_or_skip("REQUIRE_POSTGRES", "PostgreSQL server binaries (initdb, pg_ctl) not found")
    cluster = PostgresCluster(bin_dir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """URL (`postgresql+psycopg://user:pw@127.0.0.1:PORT/optuna_session`) of a database shared by
    the whole session."""
    return postgres_cluster.create_database("optuna_session")


@pytest.fixture
def postgres_db_url(
    postgres_cluster: PostgresCluster, request: pytest.FixtureRequest
) -> Iterator[str]:
    """URL of a fresh, empty database for this test (dropped afterwards)."""
    postgres_cluster.start()  # in case an earlier test left the server stopped
    stem = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:40]
    name = f"t{next(_db_counter)}_{stem}"
    url = postgres_cluster.create_database(name)
    yield url
    postgres_cluster.start()
    postgres_cluster.drop_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty storage: a new SQLite file in tmp_path, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'studies.db'}"
    return request.getfixturevalue("postgres_db_url")
