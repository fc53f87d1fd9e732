"""open_storage on SQLite: lock timeout, WAL, heartbeat settings, read-only opens, clear errors
(unparsable URLs, unreachable servers, damaged files)."""

from __future__ import annotations

import pickle
from pathlib import Path
from urllib.parse import quote

import optuna
import pytest
import sqlalchemy

from storage import StorageError, open_storage
from storage.rdb import CONNECT_TIMEOUT_S, engine_kwargs, prepare_url
from tests.helpers import free_port
from tests.storage.faults import AWKWARD_PASSWORDS, garble_page, overwrite, root_page


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


def test_no_heartbeat_unless_asked() -> None:
    # The service passes its heartbeat settings (study.defaults: tests/study/test_defaults.py).
    assert open_storage("sqlite:///:memory:").heartbeat_interval is None


def test_heartbeat_settings_are_applied() -> None:
    storage = open_storage("sqlite:///:memory:", heartbeat_interval=5, grace_period=7, max_retry=1)
    assert (storage.heartbeat_interval, storage.grace_period) == (5, 7)
    assert storage.get_heartbeat_stale_trial_callback().max_retry == 1


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
    assert (kwargs["pool_size"], kwargs["max_overflow"]) == (2, 0)  # README's connection formula
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

    from storage import inspect_storage

    report = inspect_storage(url)
    assert report["schema"]["version"] == old
    assert report["schema"]["up_to_date"] is False
    assert "optuna storage upgrade" in report["note"]


def test_unencoded_password_is_one_clear_error_on_the_worker_path() -> None:
    url = "postgresql://alice:p@ss:w/rd%@127.0.0.1:5432/db"
    for call in (prepare_url, open_storage):
        with pytest.raises(StorageError) as info:
            call(url)
        assert str(info.value).startswith(
            "could not parse the storage URL 'postgresql://***@127.0.0.1:5432/db': special "
            "characters in the user name or password must be percent-encoded (@ → %40"
        )
        assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize("password", AWKWARD_PASSWORDS)
def test_unreachable_server_message_is_intact(password: str) -> None:
    port = free_port()
    url = f"postgresql://alice:{quote(password, safe='')}@127.0.0.1:{port}/postgres"
    with pytest.raises(StorageError) as info:
        open_storage(url)
    assert str(info.value) == (
        f"cannot reach postgresql at 127.0.0.1:{port} (connection refused): is the server "
        "running, and are host and port in the storage URL right?"
    )


def test_read_only_open_of_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "studies.db"
    with pytest.raises(StorageError) as info:
        open_storage(f"sqlite:///{path}", create=False)
    assert str(info.value) == (
        f"no SQLite file {str(path)!r}: nothing was stored there yet — create a study first "
        "(python -m study create) or pass --storage"
    )
    assert list(tmp_path.iterdir()) == []


def test_read_only_open_of_an_empty_file_creates_no_tables(tmp_path: Path) -> None:
    (tmp_path / "studies.db").touch()  # what read-only commands used to leave behind
    with pytest.raises(StorageError, match=r"^no Optuna tables in sqlite:///.*nothing was stored"):
        open_storage(f"sqlite:///{tmp_path / 'studies.db'}", create=False)
    assert (tmp_path / "studies.db").stat().st_size == 0


def test_read_only_open_of_a_study(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    optuna.create_study(study_name="s", storage=open_storage(url)).optimize(
        lambda t: t.suggest_float("x", 0, 1), n_trials=2
    )
    storage = open_storage(url, create=False, heartbeat_interval=None)
    assert len(optuna.load_study(study_name="s", storage=storage).trials) == 2


def _damaged_study(tmp_path: Path, table: str) -> str:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    storage = open_storage(url)
    optuna.create_study(study_name="s", storage=storage).optimize(
        lambda t: t.suggest_float("x", 0, 1), n_trials=3
    )
    storage.engine.dispose()
    garble_page(tmp_path / "studies.db", root_page(tmp_path / "studies.db", table))
    return url


def _damaged_message(tmp_path: Path) -> str:
    return (
        f"SQLite file {str(tmp_path / 'studies.db')!r} is damaged (database disk image is "
        "malformed): restore it from a backup, or pass another --storage"
    )


@pytest.mark.parametrize("create", [True, False])
def test_damaged_page_is_one_clear_error_where_it_is_read(tmp_path: Path, create: bool) -> None:
    # Page 3 of a small study: the index on study names, read by every load_study.
    url = _damaged_study(tmp_path, "ix_studies_study_name")
    storage = open_storage(url, create=create)
    with pytest.raises(StorageError) as info:
        optuna.load_study(study_name="s", storage=storage)
    assert str(info.value) == _damaged_message(tmp_path)


def test_damaged_page_read_after_pickling(tmp_path: Path) -> None:
    # Workers receive the storage pickled; the rebuilt engine must translate the same way.
    url = _damaged_study(tmp_path, "trials")
    storage = pickle.loads(pickle.dumps(open_storage(url)))
    with pytest.raises(StorageError) as info:
        storage.get_all_trials(storage.get_study_id_from_name("s"))
    assert str(info.value) == _damaged_message(tmp_path)


@pytest.mark.parametrize(
    ("offset", "data", "message"),
    [
        (100, b"\xff" * 3996, "is damaged (database disk image is malformed): restore it"),
        (0, b"\0" * 16, "is not an SQLite database (or its header is damaged)"),  # the magic
        (16, b"\x00\x03", "is damaged (file is not a database): restore it"),  # page size 3
    ],
)
def test_damaged_first_page_fails_at_open(
    tmp_path: Path, offset: int, data: bytes, message: str
) -> None:
    # Page 1 holds the file header (100 bytes), then the table of tables.
    path = tmp_path / "studies.db"
    open_storage(f"sqlite:///{path}").engine.dispose()
    overwrite(path, offset, data)
    for create in (True, False):
        with pytest.raises(StorageError) as info:
            open_storage(f"sqlite:///{path}", create=create)
        assert f"{str(path)!r} {message}" in str(info.value)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with")
def test_heartbeat_on_a_damaged_file_warns_and_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "studies.db"
    storage = open_storage(f"sqlite:///{path}", heartbeat_interval=5)
    trial_id = optuna.create_study(storage=storage).ask()._trial_id  # records a first heartbeat
    storage.engine.dispose()
    garble_page(path, root_page(path, "trial_heartbeats"))
    storage.record_heartbeat(trial_id)
    assert f"heartbeat of trial id {trial_id} not recorded" in caplog.text
    assert "malformed" in caplog.text
