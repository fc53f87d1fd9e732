"""Storage faults a new user meets, through the real study commands: a password that needs
percent-encoding, a damaged SQLite file, a read-only command on a file that does not exist."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import free_port, one_line_error
from tests.storage.faults import garble_page, root_page
from tests.study.conftest import CLEARED, REPO, Cli

# (arguments, module) of every command that opens the storage.
COMMANDS = {
    "status": (("status",), "study"),
    "worker": (("worker", "--n-trials", "1", "--per-device", "1"), "study"),
    "run": (("run", "--n-trials", "1", "--per-device", "1"), "study"),
    "report": (("report", "--no-artifacts"), "study"),
    "export": (("export",), "study.best"),
}


@pytest.mark.parametrize("command", [*COMMANDS, "create"])
@pytest.mark.slow
def test_unencoded_password_is_one_line(cli: Cli, command: str) -> None:
    args, module = COMMANDS.get(command, (("create", "--objective", "mock"), "study"))
    port = free_port()
    url = f"postgresql://alice:p@ss:w/rd%@127.0.0.1:{port}/db"
    line = one_line_error(
        cli.run(*args, "--storage", url, module=module, check=False),
        f"could not parse the storage URL 'postgresql://***@127.0.0.1:{port}/db'",
        "must be percent-encoded (@ → %40, : → %3A, / → %2F, % → %25)",
    )
    assert "'w'" not in line and "ss:" not in line and "rd%" not in line


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file holding a mock study with 3 finished trials (made once per module)."""
    cwd = tmp_path_factory.mktemp("finished")
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env["PYTHONPATH"] = str(REPO)
    cli = Cli(env, cwd)
    url = f"sqlite:///{cwd / 'studies.db'}"
    cli.run("create", "--storage", url, "--objective", "mock")
    cli.run("worker", "--storage", url, "--n-trials", "3", "--per-device", "1")
    return cwd / "studies.db"


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.slow
def test_damaged_file_is_one_line(cli: Cli, finished_study: Path, command: str) -> None:
    path = cli.cwd / "studies.db"
    shutil.copy(finished_study, path)
    garble_page(path, root_page(path, "ix_studies_study_name"))  # page 3, as in the issue
    args, module = COMMANDS[command]
    line = one_line_error(cli.run(*args, "--storage", f"sqlite:///{path}", module=module,
                                  check=False))
    assert line == (f"error: SQLite file {str(path)!r} is damaged (database disk image is "
                    "malformed): restore it from a backup, or pass another --storage")


@pytest.mark.parametrize("command", ["status", "export"])
@pytest.mark.slow
def test_read_only_command_creates_no_file(cli: Cli, command: str) -> None:
    args, module = COMMANDS[command]
    one_line_error(cli.run(*args, module=module, check=False),
                   "no SQLite file 'studies.db': nothing was stored there yet")
    assert not (cli.cwd / "studies.db").exists()


def test_storage_check_creates_no_file(cli: Cli) -> None:
    cli.run("check", module="storage")
    assert list(cli.cwd.iterdir()) == []
