"""Every user error through the real CLI: one `error:` line, exit code 1 (usage errors: 2)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from tests.full_disk import tiny_filesystem
from tests.helpers import cli_error, one_line_error
from tests.study.conftest import Cli, load


@pytest.mark.slow
def test_unknown_study_lists_existing(cli: Cli, sqlite_url: str) -> None:
    cli.run("create", "--storage", sqlite_url, "--objective", "mock", "--study", "alpha")
    cli.run("create", "--storage", sqlite_url, "--objective", "mock", "--study", "beta")
    for args, module in ((("worker", "--objective", "mock"), "study"), (("status",), "study"),
                         (("export",), "study.best")):
        proc = cli.run(*args, "--storage", sqlite_url, "--study", "gamma", module=module,
                       check=False)
        err = cli_error(proc)
        assert err.startswith("error: no study 'gamma'") and "'alpha', 'beta'" in err


@pytest.mark.slow
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
    (("run", "--n-trial", "5"), "unrecognized arguments: --n-trial"),  # no abbreviations
    (("create", "--max-seeds", "0"), "--max-seeds: must be a positive integer"),
])
def test_usage_errors(cli: Cli, args: tuple[str, ...], message: str) -> None:
    assert message in cli_error(cli.run(*args, check=False), code=2)


@pytest.mark.parametrize("args, message", [
    (("create", "--data", "folder:/does/not/exist"), "/does/not/exist"),
    (("create", "--objective", "nocolon"), "unknown objective 'nocolon'"),
    (("create", "--max-epochs", "0"), "--max-epochs must be at least 1"),
    (("create", "--target-ci", "0"), "--target-ci must be a positive half-width"),
    (("create", "--replicate-budget=-5m"), "--replicate-budget must be a positive duration"),
    (("create", "--replicate-budget", "soon"), "got 'soon'"),
    (("create", "--replicate-seeds", "4", "--max-seeds", "3"),
     "--max-seeds (3) must be at least the first round's seeds (--replicate-seeds 4)"),
    (("create", "--replicate-lambdas", "1000"), "inside the study's λ range 0.01 … 100"),
    (("create", "--replicate-dropouts", "0.9"), "inside the dropout range 0 … 0.6"),
])
@pytest.mark.slow
def test_bad_create_settings(cli: Cli, sqlite_url: str, args, message: str) -> None:
    assert message in cli_error(cli.run(*args, "--storage", sqlite_url, check=False))


@pytest.mark.slow
def test_a_budget_is_not_lowered_below_the_finished_trials_without_force(
        cli: Cli, sqlite_url: str) -> None:
    cli.run("run", "--storage", sqlite_url, "--objective", "mock", "--n-trials", "4",
            "--replicate-seeds", "0")
    err = cli_error(cli.run("run", "--storage", sqlite_url, "--n-trials", "2", check=False))
    assert "already has 4 finished search trials" in err and "--force" in err
    forced = cli.run("run", "--storage", sqlite_url, "--n-trials", "2", "--force")
    assert "budget of study 'recon-lambda': 4 → 2" in forced.stderr


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_module_factory_objective_gets_the_documented_context(cli: Cli, sqlite_url: str,
                                                                tmp_path) -> None:
    """README's `--objective package.module:factory` contract: called once per worker process
    with an ObjectiveContext (its `spec`: data, split, seed, holdout, profile; `cache_dir`,
    `model_dir`, `device`, `threads`, `model_path`); what it returns is called per trial."""
    (tmp_path / "my_objective.py").write_text(
        "import json, os\n"
        "def make(ctx):\n"
        "    spec = ctx.spec\n"
        "    seen = {'data': spec.data, 'split': spec.split, 'seed': spec.seed,\n"
        "            'holdout': spec.holdout_data, 'profile': spec.profile.name,\n"
        "            'epochs': spec.profile.train.max_epochs, 'cache': str(ctx.cache_dir),\n"
        "            'models': str(ctx.model_dir), 'device': ctx.device, 'threads': ctx.threads,\n"
        "            'path': str(ctx.model_path(3))}\n"
        "    with open(os.environ['SEEN'], 'a') as out:\n"
        "        out.write(json.dumps(seen) + '\\n')\n"
        "    def objective(trial):\n"
        "        return trial.suggest_float('log10_lambda', -3, 2) / 10\n"
        "    return objective\n")
    seen_file = tmp_path / "seen.jsonl"
    env = {"PYTHONPATH": f"{tmp_path}:{cli.env['PYTHONPATH']}", "SEEN": str(seen_file)}
    cli.run("run", "--storage", sqlite_url, "--objective", "my_objective:make", "--seed", "5",
            "--max-epochs", "2", "--holdout-data", "synthetic:5", "--replicate-seeds", "0",
            "--n-trials", "3", "--devices", "cpu", "--per-device", "1", env=env)
    [seen] = [json.loads(line) for line in seen_file.read_text().splitlines()]  # once
    assert seen.pop("threads") >= 1  # the launcher's share of the cores
    assert seen == {"data": "synthetic", "split": "seed", "seed": 5, "holdout": "synthetic:5",
                    "profile": "quick", "epochs": 2, "cache": cli.env["STUDY_CACHE_DIR"],
                    "models": cli.env["STUDY_MODEL_DIR"], "device": "cpu",
                    "path": f"{cli.env['STUDY_MODEL_DIR']}/recon-lambda/trial_00003.pt"}


@pytest.mark.slow
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


@pytest.mark.slow
def test_evaluate_errors(cli: Cli, sqlite_url: str) -> None:
    # A flag the command needs is missing: a usage error, exit 2 (README's exit codes).
    err = cli_error(cli.run("evaluate", "--storage", sqlite_url, module="study.best",
                            check=False), code=2)
    assert "--data is required" in err and err.count("\n") == 1, err
    err = cli_error(cli.run("evaluate", "--data", "synthetic", "--model", "nope.pt",
                         module="study.best", check=False))
    assert "model file 'nope.pt' does not exist" in err
    cli.run("create", "--storage", sqlite_url, "--objective", "mock")
    cli.run("worker", "--storage", sqlite_url, "--n-trials", "3", "--devices", "cpu", "--quiet")
    err = cli_error(cli.run("evaluate", "--storage", sqlite_url, "--data", "synthetic",
                         module="study.best", check=False))
    assert "saved no model" in err and "--model PATH" in err


@pytest.mark.slow
def test_mock_worker_does_not_import_torch(cli: Cli, sqlite_url: str) -> None:
    cli.run("create", "--storage", sqlite_url, "--objective", "mock")
    code = ("import sys; from study.cli import main; "
            f"rc = main(['worker', '--storage', '{sqlite_url}', '--n-trials', '2', "
            "'--devices', 'cpu', '--quiet']); print(rc, 'torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], env=cli.env, cwd=cli.cwd,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.stdout.split() == ["0", "False"], proc.stderr


@pytest.mark.slow
def test_a_search_worker_and_status_load_no_statistics_library(cli: Cli, sqlite_url: str) -> None:
    """scipy.stats and statsmodels are most of a command's start-up; every worker process and
    every short command pays it unless it computes an interval."""
    cli.run("create", "--storage", sqlite_url, "--objective", "mock", "--replicate-seeds", "0")
    code = ("import sys; from study.cli import main; "
            f"rc = main(['worker', '--storage', '{sqlite_url}', '--n-trials', '2', "
            "'--devices', 'cpu', '--quiet']); "
            f"rc += main(['status', '--storage', '{sqlite_url}']); "
            "print(rc, [m for m in ('scipy.stats', 'statsmodels') if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], env=cli.env, cwd=cli.cwd,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.stdout.splitlines()[-1] == "0 []", proc.stdout + proc.stderr


@pytest.mark.postgres
@pytest.mark.slow
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


# Commands whose result a user pipes into `head`: (arguments, module).
PIPED = {"status": (("status",), "study"), "status-json": (("status", "--format", "json"), "study"),
         "export": (("export",), "study.best"), "check": (("check",), "storage")}


@pytest.fixture
def small_study(cli: Cli, sqlite_url: str) -> str:
    cli.run("create", "--storage", sqlite_url, "--objective", "mock", "--replicate-seeds", "0")
    cli.run("worker", "--storage", sqlite_url, "--n-trials", "2", "--devices", "cpu",
            "--per-device", "1", "--quiet")
    return sqlite_url


@pytest.mark.parametrize("command", PIPED)
@pytest.mark.slow
def test_reader_gone_before_the_output(cli: Cli, small_study: str, command: str) -> None:
    """The reader closed the pipe before anything was written: exit 141, nothing on stderr."""
    args, module = PIPED[command]
    proc = cli.popen(*args, "--storage", small_study, module=module)
    proc.stdout.close()  # our end was the only reader: the command's first write gets EPIPE
    _, err = proc.communicate(timeout=120)
    assert (proc.returncode, err) == (141, "")


@pytest.mark.slow
def test_status_piped_into_head(cli: Cli, small_study: str) -> None:
    """`status | head -1`, as users type it: the first line and no error. The whole table usually
    fits in the pipe before head exits (exit 0); when it does not, the exit is 141, as above."""
    proc = cli.popen("status", "--storage", small_study)
    head = subprocess.run(["head", "-1"], stdin=proc.stdout, capture_output=True, text=True,
                          timeout=120, check=False)
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 141) and err == "", (proc.returncode, err)
    assert head.stdout.startswith("study         recon-lambda (data synthetic")
    assert head.stdout.count("\n") == 1


@pytest.mark.slow
def test_export_warns_when_the_model_is_gone(cli: Cli, sqlite_url: str) -> None:
    """A model in the artifact store is fetched again when this host's copy is gone; a study
    older than models in the store has only the local path, and export warns when it is gone."""
    cli.run("create", "--storage", sqlite_url, "--objective",
            "tests.study.saving_objective:SavesModels", "--replicate-seeds", "0")
    cli.run("worker", "--storage", sqlite_url, "--n-trials", "3", "--devices", "cpu",
            "--per-device", "1", "--quiet")
    present = cli.run("export", "--storage", sqlite_url, module="study.best")
    record = json.loads(present.stdout)
    assert (record["model_exists"], present.stderr) == (True, "")
    Path(record["model_path"]).unlink()
    again = cli.run("export", "--storage", sqlite_url, module="study.best")
    assert (json.loads(again.stdout)["model"], again.stderr) == (record["model"], "")
    assert Path(record["model_path"]).is_file()

    # An older study: its best trial recorded a local path only (no `model_artifact`).
    best = load(sqlite_url).best_trial
    older = optuna.create_study(storage=sqlite_url, study_name="older", direction="maximize")
    for key, value in load(sqlite_url).user_attrs.items():
        if key not in ("artifact_store", "models_kept"):
            older.set_user_attr(key, value)
    older.add_trial(optuna.trial.create_trial(
        params=best.params, distributions=best.distributions, value=best.value,
        user_attrs={k: v for k, v in best.user_attrs.items() if k != "model_artifact"}))
    Path(record["model_path"]).unlink()
    gone = cli.run("export", "--storage", sqlite_url, "--study", "older", module="study.best")
    assert json.loads(gone.stdout)["model_exists"] is False
    assert gone.stderr == (f"warning: the best trial's model {record['model_path']} does not "
                           "exist (moved, deleted, or written on another machine); the "
                           "configuration is exported without it\n")


@pytest.mark.slow
def test_worker_on_a_full_disk(cli: Cli, sqlite_url: str, tmp_path: Path) -> None:
    """Each trial's model fails to save: the trial fails with the reason, the worker goes on, and
    stops after 3 failures in a row with that reason as its last line."""
    cli.run("create", "--storage", sqlite_url, "--objective",
            "tests.study.saving_objective:SavesModels", "--replicate-seeds", "0")
    with tiny_filesystem(tmp_path / "full") as full:
        proc = cli.run("worker", "--storage", sqlite_url, "--model-dir", str(full), "--devices",
                       "cpu", "--per-device", "1", "--quiet", check=False)
        left = sorted(str(p.relative_to(full)) for p in full.rglob("*"))
    # Optuna logs each failed trial (with its traceback) as a warning; the verdict comes last.
    err = proc.stderr
    last = err.strip().splitlines()[-1]
    assert proc.returncode == 1 and proc.stdout == ""
    assert last.startswith(
        "error: worker stopped after 3 failed trials in a row; last error: CheckpointError: "
        f"cannot save the model {full}/recon-lambda/trial_00002.pt: no space left on "
        f"{full}/recon-lambda (it needs "), last
    assert "unexpected pos" not in err and "inline_container" not in err
    assert left == ["recon-lambda"]  # no model, no temporary file
    trials = load(sqlite_url).get_trials()
    assert [t.state.name for t in trials] == ["FAIL"] * 3


def test_create_refuses_a_source_whose_val_split_would_be_empty(cli: Cli, sqlite_url: str,
                                                               tmp_path: Path) -> None:
    import numpy as np
    import soundfile as sf

    for label in ("a", "b"):
        (tmp_path / "tiny" / label).mkdir(parents=True)
        for i in range(3):
            sf.write(tmp_path / "tiny" / label / f"{i}.wav",
                     0.3 * np.sin(np.arange(8000) / (3.0 + i)), 8000)
    one_line_error(cli.run("create", "--storage", sqlite_url, "--data",
                           f"folder:{tmp_path / 'tiny'}", check=False),
                   "the val split", "files per class: a 3, b 3", ">= 5 files")
    assert not (cli.cwd / "studies.db").exists()  # refused before anything was stored
