"""Session-wide fixtures: a throwaway PostgreSQL cluster (`postgres_cluster`, `postgres_url`,
`postgres_db_url`), skipped when the server binaries are missing unless REQUIRE_POSTGRES=1, and
`storage_url`, a fresh storage of each backend."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import require_or_skip
from tests.postgres_cluster import PostgresCluster, find_pg_bin

_db_counter = itertools.count()


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
