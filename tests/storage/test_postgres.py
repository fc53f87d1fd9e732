"""open_storage against a real PostgreSQL server: settings, errors (also for passwords that
need percent-encoding or look like the message), read-only opens, a server restart."""

from __future__ import annotations

import time
from urllib.parse import quote

import optuna
import pytest
import sqlalchemy

from storage import StorageError, open_storage
from tests.postgres_cluster import PostgresCluster
from tests.storage.faults import AWKWARD_PASSWORDS

pytestmark = pytest.mark.postgres


def test_opens_with_psycopg3_and_health_checks(postgres_db_url: str) -> None:
    plain = postgres_db_url.replace("postgresql+psycopg://", "postgresql://")
    storage = open_storage(plain)
    assert storage.engine.dialect.driver == "psycopg"
    assert storage.engine.pool._pre_ping is True
    study = optuna.create_study(study_name="pg", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert len(optuna.load_study(study_name="pg", storage=open_storage(plain)).trials) == 2


def test_postgres_scheme_alias(postgres_db_url: str) -> None:
    alias = postgres_db_url.replace("postgresql+psycopg://", "postgres://")
    assert open_storage(alias).engine.dialect.driver == "psycopg"


def test_survives_a_server_restart(postgres_db_url: str, postgres_cluster: PostgresCluster) -> None:
    storage = open_storage(postgres_db_url)
    study = optuna.create_study(study_name="restart", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    postgres_cluster.restart()  # pooled connections are now dead; pre-ping replaces them
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert len(study.trials) == 2


def test_wrong_password(postgres_cluster: PostgresCluster, postgres_url: str) -> None:
    url = postgres_cluster.url("optuna_session", password="definitely-wrong-pw")
    with pytest.raises(StorageError, match="authentication failed for user 'optuna_test'") as info:
        open_storage(url)
    assert "definitely-wrong-pw" not in str(info.value)
    assert postgres_cluster.password not in str(info.value)


def test_unknown_database(postgres_cluster: PostgresCluster) -> None:
    with pytest.raises(StorageError, match="database 'no_such_db' does not exist.*CREATE DATABASE"):
        open_storage(postgres_cluster.url("no_such_db"))


def test_server_down_fails_fast(postgres_cluster: PostgresCluster, postgres_url: str) -> None:
    postgres_cluster.stop()
    try:
        start = time.monotonic()
        endpoint = f"127.0.0.1:{postgres_cluster.port}"
        with pytest.raises(StorageError, match=rf"cannot reach postgresql at {endpoint}"):
            open_storage(postgres_url)
        assert time.monotonic() - start < 15
    finally:
        postgres_cluster.start()


@pytest.fixture(scope="module")
def awkward_roles(postgres_cluster: PostgresCluster) -> list[tuple[str, str, str]]:
    """(password, role, database) for each of AWKWARD_PASSWORDS: a login role that owns an empty
    database of its own."""
    postgres_cluster.start()
    roles = []
    for i, password in enumerate(AWKWARD_PASSWORDS):
        role, database = f"awkward{i}", f"awkward{i}_db"
        literal = password.replace("'", "''")
        postgres_cluster._admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        postgres_cluster._admin(f"DROP ROLE IF EXISTS {role}")
        postgres_cluster._admin(f"CREATE ROLE {role} LOGIN PASSWORD '{literal}'")
        postgres_cluster._admin(f"CREATE DATABASE {database} OWNER {role}")
        roles.append((password, role, database))
    return roles


def _role_url(cluster: PostgresCluster, role: str, password: str, database: str) -> str:
    return f"postgresql://{role}:{quote(password, safe='')}@127.0.0.1:{cluster.port}/{database}"


def test_awkward_passwords_right_and_wrong(
    postgres_cluster: PostgresCluster, awkward_roles: list[tuple[str, str, str]]
) -> None:
    endpoint = f"127.0.0.1:{postgres_cluster.port}"
    for password, role, database in awkward_roles:
        url = _role_url(postgres_cluster, role, password, database)
        storage = open_storage(url, heartbeat_interval=None)
        optuna.create_study(study_name="s", storage=storage)
        assert optuna.get_all_study_names(storage) == ["s"]
        storage.engine.dispose()

        with pytest.raises(StorageError) as info:
            open_storage(_role_url(postgres_cluster, role, password + "x", database))
        assert str(info.value) == (
            f"authentication failed for user '{role}' at {endpoint}: "
            "check the user name and password in the storage URL"
        )
        with pytest.raises(StorageError) as info:
            open_storage(_role_url(postgres_cluster, role, password, "no_such_db"))
        assert str(info.value) == (
            f"database 'no_such_db' does not exist on {endpoint}: create it first "
            f"(psql -h 127.0.0.1 -p {postgres_cluster.port} -U {role} -d postgres "
            "-c 'CREATE DATABASE \"no_such_db\"')"
        )


def test_user_without_create_rights(
    postgres_cluster: PostgresCluster, awkward_roles: list[tuple[str, str, str]]
) -> None:
    password, role, _ = awkward_roles[0]
    postgres_cluster._admin("DROP DATABASE IF EXISTS not_owned WITH (FORCE)")
    postgres_cluster._admin("CREATE DATABASE not_owned")  # owned by the superuser
    with pytest.raises(StorageError) as info:
        open_storage(_role_url(postgres_cluster, role, password, "not_owned"))
    assert str(info.value) == (
        f"user '{role}' may not create Optuna's tables in database 'not_owned' on "
        f"127.0.0.1:{postgres_cluster.port} (permission denied for schema public): make it the "
        f"database's owner (ALTER DATABASE \"not_owned\" OWNER TO \"{role}\")"
    )


def test_read_only_open_creates_no_tables(postgres_db_url: str) -> None:
    expected = r"^no Optuna tables in postgresql\+psycopg://optuna_test:\*\*\*@127\.0\.0\.1:\d+/"
    with pytest.raises(StorageError, match=expected + r"\w+: nothing was stored there yet"):
        open_storage(postgres_db_url, create=False)
    engine = sqlalchemy.create_engine(postgres_db_url)
    try:
        assert sqlalchemy.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
    optuna.create_study(study_name="s", storage=open_storage(postgres_db_url))
    storage = open_storage(postgres_db_url, create=False, heartbeat_interval=None)
    assert optuna.get_all_study_names(storage) == ["s"]



def test_a_storage_holds_at_most_two_connections(postgres_db_url: str,
                                                 postgres_cluster: PostgresCluster) -> None:
    # README "Where studies are stored": the connection formula rests on this bound.
    import threading

    import psycopg

    engine = open_storage(postgres_db_url).engine
    held = [engine.connect(), engine.connect()]
    third: list[sqlalchemy.Connection] = []
    waiter = threading.Thread(target=lambda: third.append(engine.connect()), daemon=True)
    try:
        waiter.start()
        waiter.join(timeout=1.0)
        assert waiter.is_alive() and not third  # it waits for a pooled connection
        with psycopg.connect(**postgres_cluster.connect_kwargs(), autocommit=True) as admin:
            opened = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND "
                "datname = %s", ("recon-lambda-study", engine.url.database)).fetchone()[0]
        assert opened == 2
        held.pop().close()
        waiter.join(timeout=30)
        assert third, "the waiting checkout never got the returned connection"
    finally:
        for conn in held + third:
            conn.close()
        engine.dispose()
