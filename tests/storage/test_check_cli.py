"""`python -m storage check` run for real in a subprocess."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import optuna
import pytest
from optuna.trial import TrialState

from storage import open_storage
from storage.rdb import CONNECT_TIMEOUT_S
from tests.helpers import free_port, one_line_error
from tests.postgres_cluster import PostgresCluster
from tests.storage.faults import AWKWARD_PASSWORDS, garble_page, root_page

REPO = Path(__file__).resolve().parents[2]


def run_check(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("STUDY_STORAGE", "OPTUNA_STORAGE")}
    environ["PYTHONPATH"] = str(REPO)
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "storage", "check", *args],
        check=False,
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _populate(url: str) -> None:
    storage = open_storage(url, heartbeat_interval=None)  # heartbeats want optimize, not ask
    study = optuna.create_study(study_name="alpha", storage=storage, direction="maximize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    study.tell(study.ask(), state=TrialState.FAIL)
    study.ask()  # left RUNNING
    optuna.create_study(study_name="beta", storage=storage, directions=["minimize", "maximize"])
    storage.engine.dispose()


def test_missing_default_sqlite_file_is_reported_not_created(tmp_path: Path) -> None:
    proc = run_check("--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["backend"] == "sqlite"
    assert report["url"] == "sqlite:///studies.db"
    assert report["exists"] is False
    assert "does not exist yet" in report["note"]
    assert list(tmp_path.iterdir()) == []


def test_env_var_is_used(tmp_path: Path) -> None:
    proc = run_check("--format", "json", cwd=tmp_path, env={"OPTUNA_STORAGE": "sqlite:///other.db"})
    assert json.loads(proc.stdout)["url"] == "sqlite:///other.db"


def test_empty_sqlite_database(tmp_path: Path) -> None:
    (tmp_path / "empty.db").touch()
    proc = run_check("--storage", "sqlite:///empty.db", "--format", "json", cwd=tmp_path)
    report = json.loads(proc.stdout)
    assert report["reachable"] is True and report["schema"] is None and report["studies"] == []
    assert "no Optuna tables" in report["note"]
    assert (tmp_path / "empty.db").stat().st_size == 0  # check created no tables


def test_sqlite_with_studies(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    _populate(url)
    proc = run_check("--storage", url, "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["reachable"] is True
    assert report["schema"]["up_to_date"] is True
    assert report["schema"]["version"] == open_storage(url).get_head_version()
    studies = {s["name"]: s for s in report["studies"]}
    assert studies["alpha"]["directions"] == ["maximize"]
    assert studies["alpha"]["trials"] == 5 and studies["alpha"]["states"]["COMPLETE"] == 3
    assert studies["beta"]["directions"] == ["minimize", "maximize"]
    # The two facts read from Optuna's tables directly agree with its public API.
    assert report["schema"]["created_by_optuna"] == optuna.__version__
    storage = open_storage(url)
    for name, study in studies.items():
        study_id = storage.get_study_id_from_name(name)
        assert study["states"] == {
            state.name: storage.get_n_trials(study_id, state=state) for state in TrialState
        }

    table = run_check("--storage", url, cwd=tmp_path)
    assert table.returncode == 0
    assert "backend:   sqlite" in table.stdout and "up to date" in table.stdout
    assert any(line.split()[:3] == ["alpha", "maximize", "5"] for line in table.stdout.splitlines())


def test_check_changes_nothing_in_a_study_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    _populate(url)
    before = hashlib.sha256((tmp_path / "studies.db").read_bytes()).hexdigest()
    assert [p.name for p in tmp_path.iterdir()] == ["studies.db"]
    assert run_check("--storage", url, cwd=tmp_path).returncode == 0
    assert hashlib.sha256((tmp_path / "studies.db").read_bytes()).hexdigest() == before
    # A read-only reader of a WAL file leaves SQLite's (empty) side files; the next writer
    # removes them.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "studies.db", "studies.db-shm", "studies.db-wal"
    ]
    assert (tmp_path / "studies.db-wal").stat().st_size == 0


def test_unencoded_password_is_one_line_without_any_of_it(tmp_path: Path) -> None:
    port = free_port()
    url = f"postgresql://alice:p@ss:w/rd%@127.0.0.1:{port}/db"
    proc = run_check("--storage", url, cwd=tmp_path)
    line = one_line_error(
        proc,
        f"could not parse the storage URL 'postgresql://***@127.0.0.1:{port}/db'",
        "must be percent-encoded (@ → %40, : → %3A, / → %2F, % → %25)",
    )
    assert "'w'" not in line and "ss:" not in line and "rd%" not in line and "alice" not in line


@pytest.mark.parametrize("password", AWKWARD_PASSWORDS)
@pytest.mark.slow
def test_unreachable_with_awkward_password(tmp_path: Path, password: str) -> None:
    port = free_port()
    url = f"postgresql://alice:{quote(password, safe='')}@127.0.0.1:{port}/postgres"
    proc = run_check("--storage", url, cwd=tmp_path)
    line = one_line_error(proc)
    assert line == (
        f"error: cannot reach postgresql at 127.0.0.1:{port} (connection refused): is the "
        "server running, and are host and port in the storage URL right?"
    )


def _damaged(tmp_path: Path, name: str) -> str:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    _populate(url)
    garble_page(tmp_path / "studies.db", root_page(tmp_path / "studies.db", name))
    return url


@pytest.mark.slow
def test_damaged_file(tmp_path: Path) -> None:
    # Page 3 of a small study: the index on study names.
    proc = run_check("--storage", _damaged(tmp_path, "ix_studies_study_name"), cwd=tmp_path)
    assert one_line_error(proc) == (
        f"error: SQLite file {str(tmp_path / 'studies.db')!r} is damaged (PRAGMA quick_check: "
        "Page 3: btreeInitPage() returns error code 11): restore it from a backup, or pass "
        "another --storage"
    )


@pytest.mark.slow
def test_damage_that_no_query_reads_is_found(tmp_path: Path) -> None:
    # The heartbeat index is read by no query of the check: only PRAGMA quick_check sees it.
    url = _damaged(tmp_path, "sqlite_autoindex_trial_heartbeats_1")
    one_line_error(run_check("--storage", url, cwd=tmp_path), "is damaged (PRAGMA quick_check: ")


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_with_studies(
    postgres_db_url: str, tmp_path: Path, postgres_cluster: PostgresCluster
) -> None:
    empty = json.loads(
        run_check("--storage", postgres_db_url, "--format", "json", cwd=tmp_path).stdout
    )
    assert empty["backend"] == "postgresql" and empty["schema"] is None
    _populate(postgres_db_url)
    plain = postgres_db_url.replace("postgresql+psycopg://", "postgresql://")
    proc = run_check("--format", "json", cwd=tmp_path, env={"STUDY_STORAGE": plain})
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["url"].startswith("postgresql+psycopg://optuna_test:***@127.0.0.1:")
    assert report["schema"]["up_to_date"] is True
    assert [s["name"] for s in report["studies"]] == ["alpha", "beta"]
    assert postgres_cluster.password not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_unknown_scheme(tmp_path: Path) -> None:
    proc = run_check("--storage", "foo://x/y", cwd=tmp_path)
    one_line_error(proc, "unknown storage scheme 'foo://'")
    assert "sqlite:///" in proc.stderr and "postgresql://" in proc.stderr


@pytest.mark.skipif(importlib.util.find_spec("MySQLdb") is not None, reason="MySQLdb installed")
def test_missing_driver(tmp_path: Path) -> None:
    proc = run_check("--storage", "mysql://root:hunter2@127.0.0.1/db", cwd=tmp_path)
    one_line_error(proc, "driver for mysql:// URLs is not installed")
    assert "hunter2" not in proc.stderr + proc.stdout


@pytest.mark.slow
def test_unreachable_host_is_bounded(tmp_path: Path) -> None:
    port = free_port()
    start = time.monotonic()
    proc = run_check("--storage", f"postgresql://u:hunter2@127.0.0.1:{port}/db", cwd=tmp_path)
    # 4 s on an idle machine; up to 34 s of start-up under parallel load. Still far below the
    # 120 s a worker would wait for an outage: `check` does not wait.
    assert time.monotonic() - start < 60
    one_line_error(proc, f"cannot reach postgresql at 127.0.0.1:{port}")
    assert "hunter2" not in proc.stderr + proc.stdout


def test_missing_sqlite_directory(tmp_path: Path) -> None:
    proc = run_check("--storage", "sqlite:///no/such/dir/studies.db", cwd=tmp_path)
    one_line_error(proc, "does not exist: create it (mkdir -p no/such/dir)")
    assert not (tmp_path / "no").exists()


def test_debug_shows_traceback(tmp_path: Path) -> None:
    proc = run_check("--storage", "foo://x/y", "--debug", cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and proc.stderr.strip().splitlines()[-1].startswith("error:")


@pytest.mark.postgres
@pytest.mark.slow
def test_wrong_password(
    postgres_cluster: PostgresCluster, postgres_url: str, tmp_path: Path
) -> None:
    url = postgres_cluster.url("optuna_session", password="wrong-Pa55word")
    proc = run_check("--storage", url, cwd=tmp_path)
    one_line_error(proc, "authentication failed for user 'optuna_test'")
    assert "wrong-Pa55word" not in proc.stdout + proc.stderr
    assert postgres_cluster.password not in proc.stdout + proc.stderr
    debug = run_check("--storage", url, "--debug", cwd=tmp_path)
    assert "wrong-Pa55word" not in debug.stdout + debug.stderr


@pytest.mark.postgres
def test_wrong_password_that_looks_like_the_address(
    postgres_cluster: PostgresCluster, postgres_url: str, tmp_path: Path
) -> None:
    url = postgres_cluster.url("optuna_session", password="1")
    assert one_line_error(run_check("--storage", url, cwd=tmp_path)) == (
        "error: authentication failed for user 'optuna_test' at "
        f"127.0.0.1:{postgres_cluster.port}: check the user name and password in the storage URL"
    )


@pytest.mark.postgres
def test_unknown_database(postgres_cluster: PostgresCluster, tmp_path: Path) -> None:
    proc = run_check("--storage", postgres_cluster.url("nonexistent_db"), cwd=tmp_path)
    one_line_error(proc, "database 'nonexistent_db' does not exist")
    assert "CREATE DATABASE" in proc.stderr
    assert postgres_cluster.password not in proc.stderr


@pytest.mark.slow
def test_silent_server_times_out(tmp_path: Path) -> None:
    # Accepts TCP connections (kernel backlog) but never answers: only connect_timeout ends it.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        start = time.monotonic()
        proc = run_check("--storage", f"postgresql://u:pw@127.0.0.1:{port}/db", cwd=tmp_path)
        elapsed = time.monotonic() - start
    one_line_error(proc, f"cannot reach postgresql at 127.0.0.1:{port} (timed out)")
    # + 40 s: the interpreter's start-up and imports beside three other xdist workers on 2 cores
    # took up to 38 s; a missing connect timeout would still hang far past this.
    assert elapsed < CONNECT_TIMEOUT_S + 40
