"""open_storage against a real PostgreSQL server: settings, errors, a server restart."""

from __future__ import annotations

import time

import optuna
import pytest

from storage import StorageError, open_storage
from tests.postgres_cluster import PostgresCluster

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
