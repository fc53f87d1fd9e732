"""open_storage on SQLite: lock timeout, WAL, heartbeat settings, clear errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import optuna
import pytest
import sqlalchemy

from storage import StorageError, open_storage
from storage.rdb import CONNECT_TIMEOUT_S, engine_kwargs


def _pragma(storage: optuna.storages.RDBStorage, name: str) -> object:
    with storage.engine.connect() as conn:
        return conn.execute(sqlalchemy.text(f"PRAGMA {name}")).scalar()


def test_sqlite_opens_with_wal_and_lock_timeout(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'studies.db'}")
    assert isinstance(storage, optuna.storages.RDBStorage)
    assert (tmp_path / "studies.db").exists()
    assert _pragma(storage, "journal_mode") == "wal"
    assert _pragma(storage, "busy_timeout") == 60_000
    # The storage is pickled to other processes; WAL must survive the rebuilt engine.
    assert _pragma(pickle.loads(pickle.dumps(storage)), "journal_mode") == "wal"


def test_relative_sqlite_path_is_relative_to_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    open_storage("sqlite:///studies.db")
    assert (tmp_path / "studies.db").exists()


def test_heartbeat_defaults() -> None:
    storage = open_storage("sqlite:///:memory:")
    assert storage.heartbeat_interval == 30
    assert storage.grace_period == 120
    callback = storage.get_heartbeat_stale_trial_callback()
    assert isinstance(callback, optuna.storages.RetryHeartbeatStaleTrialCallback)
    assert callback._max_retry == 3
    assert storage.failed_trial_callback is callback  # the deprecated alias points at it too


def test_heartbeat_settings_are_applied() -> None:
    storage = open_storage("sqlite:///:memory:", heartbeat_interval=5, grace_period=7, max_retry=1)
    assert (storage.heartbeat_interval, storage.grace_period) == (5, 7)
    assert storage.get_heartbeat_stale_trial_callback()._max_retry == 1


def test_heartbeat_can_be_disabled() -> None:
    storage = open_storage("sqlite:///:memory:", heartbeat_interval=None)
    assert storage.heartbeat_interval is None
    assert storage.get_heartbeat_stale_trial_callback() is None


def test_no_experimental_warnings_leak(recwarn: pytest.WarningsRecorder) -> None:
    open_storage("sqlite:///:memory:")
    assert not [w for w in recwarn if issubclass(w.category, optuna.exceptions.ExperimentalWarning)]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"heartbeat_interval": 10, "grace_period": 10}, "must exceed the heartbeat interval"),
        ({"heartbeat_interval": 10, "grace_period": 5}, "must exceed the heartbeat interval"),
        ({"heartbeat_interval": 0}, "must be positive"),
        ({"heartbeat_interval": None, "grace_period": 5}, "needs a heartbeat interval"),
        ({"max_retry": -1}, "max retry"),
    ],
)
def test_bad_heartbeat_settings(kwargs: dict, needle: str) -> None:
    with pytest.raises(StorageError, match=needle):
        open_storage("sqlite:///:memory:", **kwargs)


def test_postgres_engine_settings() -> None:
    kwargs = engine_kwargs("postgresql+psycopg://u:p@h/db")
    assert kwargs["pool_pre_ping"] is True
    assert kwargs["pool_recycle"] > 0
    assert kwargs["connect_args"]["connect_timeout"] == CONNECT_TIMEOUT_S
    # A connect_timeout in the URL wins over the default.
    url_kwargs = engine_kwargs("postgresql+psycopg://u:p@h/db?connect_timeout=3")
    assert "connect_timeout" not in url_kwargs["connect_args"]


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"does not exist: create it \(mkdir -p"):
        open_storage(f"sqlite:///{tmp_path / 'nope' / 'studies.db'}")
    assert not (tmp_path / "nope").exists()


def test_path_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="is a directory"):
        open_storage(f"sqlite:///{tmp_path}")


def test_not_a_database(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="is not an SQLite database"):
        open_storage(f"sqlite:///{bogus}")


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("foo://somewhere/db", r"unknown storage scheme 'foo://'.*sqlite:///PATH.*postgresql://"),
        ("studies.db", "not a storage URL"),
        ("mysql://root:hunter2@localhost/db", "driver for mysql:// URLs is not installed"),
        ("postgresql+psycopg2://u:hunter2@h/db", "psycopg2"),
    ],
)
def test_bad_urls(url: str, needle: str) -> None:
    with pytest.raises(StorageError, match=needle) as info:
        open_storage(url)
    assert "hunter2" not in str(info.value)
    assert "\n" not in str(info.value)


def test_outdated_schema_says_how_to_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    storage = open_storage(url)
    old = storage.get_all_versions()[1]  # an older, known revision
    with storage.engine.begin() as conn:
        conn.execute(sqlalchemy.text("UPDATE alembic_version SET version_num = :v"), {"v": old})
    storage.engine.dispose()
    with pytest.raises(
        StorageError, match=r"schema of sqlite:///.* is older.*optuna storage upgrade"
    ) as info:
        open_storage(url)
    assert "\n" not in str(info.value)

    from storage.check import inspect_storage

    report = inspect_storage(url)
    assert report["schema"]["version"] == old
    assert report["schema"]["up_to_date"] is False
    assert "optuna storage upgrade" in report["note"]
