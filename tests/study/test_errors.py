"""Every user error through the real CLI: one `error:` line, exit code 1 (usage errors: 2)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.helpers import cli_error
from tests.study.conftest import Cli


def test_unknown_study_lists_existing(cli: Cli, sqlite_url: str) -> None:
    cli.run("create", "--storage", sqlite_url, "--objective", "mock", "--study", "alpha")
    cli.run("create", "--storage", sqlite_url, "--objective", "mock", "--study", "beta")
    for args, module in ((("worker", "--objective", "mock"), "study"), (("status",), "study"),
                         (("export",), "study.best")):
        proc = cli.run(*args, "--storage", sqlite_url, "--study", "gamma", module=module,
                       check=False)
        err = cli_error(proc)
        assert err.startswith("error: no study 'gamma'") and "'alpha', 'beta'" in err


def test_no_finished_trials(cli: Cli, sqlite_url: str) -> None:
    cli.run("create", "--storage", sqlite_url, "--objective", "mock")
    err = cli_error(cli.run("export", "--storage", sqlite_url, module="study.best", check=False))
    assert "no complete trial yet (1 WAITING)" in err and "python -m study worker" in err


@pytest.mark.parametrize("args, message", [
    (("create", "--n-trials", "-3"), "--n-trials: must be a positive integer, got -3"),
    (("create", "--n-trials", "0"), "must be a positive integer"),
    (("create", "--pruner", "bogus"), "invalid choice: 'bogus'"),
    (("create", "--profile", "papr"), "invalid choice: 'papr'"),  # a usage error, not exit 1
    (("worker", "--timeout", "-1"), "must be a positive number"),
    (("worker", "--per-device", "0"), "must be a positive integer"),
])
def test_usage_errors(cli: Cli, args: tuple[str, ...], message: str) -> None:
    assert message in cli_error(cli.run(*args, check=False), code=2)


@pytest.mark.parametrize("args, message", [
    (("create", "--data", "folder:/does/not/exist"), "/does/not/exist"),
    (("create", "--objective", "nocolon"), "unknown objective 'nocolon'"),
    (("create", "--max-epochs", "0"), "--max-epochs must be at least 1"),
])
def test_bad_create_settings(cli: Cli, sqlite_url: str, args, message: str) -> None:
    assert message in cli_error(cli.run(*args, "--storage", sqlite_url, check=False))


def test_worker_errors(cli: Cli, sqlite_url: str) -> None:
    cli.run("create", "--storage", sqlite_url, "--objective", "mock")
    err = cli_error(cli.run("worker", "--storage", sqlite_url, "--objective", "lstm", check=False))
    assert "created with --objective mock, not lstm" in err
    err = cli_error(cli.run("worker", "--storage", sqlite_url, "--devices", "gpu", check=False))
    assert "--devices must be auto, cpu or GPU indices" in err
    cli.run("create", "--storage", sqlite_url, "--objective", "nosuch.module:Thing", "--study",
            "custom")
    err = cli_error(cli.run("worker", "--storage", sqlite_url, "--study", "custom", "--devices",
                         "cpu", check=False))
    assert "no module named 'nosuch.module'" in err
    debug = cli.run("worker", "--storage", sqlite_url, "--study", "custom", "--devices", "cpu",
                    "--debug", check=False)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_failing_objective_stops_worker(cli: Cli, sqlite_url: str, tmp_path) -> None:
    (tmp_path / "broken_objective.py").write_text(
        "def make(ctx):\n    def objective(trial):\n        raise RuntimeError('boom')\n"
        "    return objective\n")
    env = {"PYTHONPATH": f"{tmp_path}:{cli.env['PYTHONPATH']}"}
    cli.run("create", "--storage", sqlite_url, "--objective", "broken_objective:make", env=env)
    proc = cli.run("worker", "--storage", sqlite_url, "--devices", "cpu", "--per-device", "1",
                   "--quiet", env=env, check=False)
    # Optuna logs each failed trial's traceback (useful in worker logs); the verdict comes last.
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1
    assert last.startswith("error: worker stopped after 3 failed trials in a row")
    assert "RuntimeError: boom" in last


def test_unreachable_postgres_is_bounded(cli: Cli) -> None:
    url = "postgresql://user:s3cr3t@127.0.0.1:9/optuna"
    started = time.monotonic()
    proc = cli.run("status", "--storage", url, check=False, timeout=60)
    err = cli_error(proc)
    assert time.monotonic() - started < 30
    assert "cannot reach postgresql at 127.0.0.1:9" in err and "s3cr3t" not in err


def test_evaluate_errors(cli: Cli, sqlite_url: str) -> None:
    err = cli_error(cli.run("evaluate", "--storage", sqlite_url, module="study.best", check=False))
    assert "--data is required" in err
    err = cli_error(cli.run("evaluate", "--data", "synthetic", "--model", "nope.pt",
                         module="study.best", check=False))
    assert "model file 'nope.pt' does not exist" in err
    cli.run("create", "--storage", sqlite_url, "--objective", "mock")
    cli.run("worker", "--storage", sqlite_url, "--n-trials", "3", "--devices", "cpu", "--quiet")
    err = cli_error(cli.run("evaluate", "--storage", sqlite_url, "--data", "synthetic",
                         module="study.best", check=False))
    assert "saved no model" in err and "--model PATH" in err


def test_mock_worker_does_not_import_torch(cli: Cli, sqlite_url: str) -> None:
    cli.run("create", "--storage", sqlite_url, "--objective", "mock")
    code = ("import sys; from study.cli import main; "
            f"rc = main(['worker', '--storage', '{sqlite_url}', '--n-trials', '2', "
            "'--devices', 'cpu', '--quiet']); print(rc, 'torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], env=cli.env, cwd=cli.cwd,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.stdout.split() == ["0", "False"], proc.stderr


@pytest.mark.postgres
def test_wrong_password_is_never_printed(cli: Cli, postgres_cluster, postgres_url: str) -> None:
    url = postgres_cluster.url("optuna_session", password="wrong-Pa55word")
    for args, module in ((("status",), "study"), (("worker", "--devices", "cpu"), "study"),
                         (("export",), "study.best"), (("status", "--debug"), "study")):
        proc = cli.run(*args, "--storage", url, module=module, check=False)
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.strip().splitlines()[-1].startswith(
            "error: authentication failed for user 'optuna_test'")
        assert "wrong-Pa55word" not in proc.stdout + proc.stderr
        assert postgres_cluster.password not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_unwritable_cache_dir(cli: Cli, sqlite_url: str) -> None:
    # Tests run as root, which ignores permission bits: a path below a regular file fails for all.
    (cli.cwd / "file.txt").write_text("")
    cache = cli.cwd / "file.txt" / "cache"
    cli.run("create", "--storage", sqlite_url, "--objective", "lstm")
    err = cli_error(cli.run("worker", "--storage", sqlite_url, "--cache-dir", str(cache),
                         "--devices", "cpu", "--per-device", "1", "--n-trials", "1", check=False))
    assert err.strip().splitlines()[-1] == (
        f"error: cannot write the feature cache directory {cache}: [Errno 20] Not a directory: "
        f"'{cache}'; pass a writable --cache-dir or set STUDY_CACHE_DIR")
