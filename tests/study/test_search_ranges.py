"""Search ranges chosen at create reach every worker; invalid ranges are one clear line."""

from __future__ import annotations

import math

import optuna
import pytest

from tests.study.conftest import Cli


@pytest.mark.slow
def test_ranges_are_stored_and_searched(cli: Cli, sqlite_url: str) -> None:
    cli.run("create", "--storage", sqlite_url, "--objective", "mock", "--n-trials", "12",
            "--lambda-range", "0.1", "10", "--dropout-range", "0.1", "0.2",
            "--hidden-range", "32", "48", "16")
    cli.run("worker", "--storage", sqlite_url, "--devices", "cpu", "--per-device", "1")
    study = optuna.load_study(study_name="recon-lambda", storage=sqlite_url)
    space = study.user_attrs["experiment"]["profile"]["search"]
    assert space["log10_lambda"] == pytest.approx([-2.0, 1.0])
    assert space["lambda_off_below"] == pytest.approx(-1.0)
    # The baseline moved inside the new ranges: dropout 0.3 → 0.2, hidden 64 → 48.
    assert (space["baseline_dropout"], space["baseline_hidden"]) == (0.2, 48)
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 12
    baseline = trials[0]
    assert baseline.user_attrs["lambda"] == 0.0 and baseline.params["hidden"] == 48
    for trial in trials:
        assert 0.1 <= trial.params["dropout"] <= 0.2
        assert trial.params["hidden"] in (32, 48)
        lam = trial.user_attrs["lambda"]
        assert lam == 0.0 or 0.1 - 1e-9 <= lam <= 10.0 + 1e-9
        assert (lam == 0.0) == (trial.params["log10_lambda"] < -1.0)
        if lam:
            assert math.log10(lam) == pytest.approx(trial.params["log10_lambda"])


@pytest.mark.parametrize(("args", "message"), [
    (("--lambda-range", "10", "1"), "λ range must satisfy 0 < low < high"),
    (("--lambda-range", "0", "1"), "λ range must satisfy 0 < low < high"),
    (("--dropout-range", "0.5", "0.2"), "dropout bounds"),
    (("--dropout-range", "0", "1.0"), "dropout bounds"),
    (("--hidden-range", "64", "32", "16"), "hidden bounds"),
    (("--hidden-range", "16", "64", "0"), "hidden bounds"),
])
def test_invalid_ranges_are_one_line(cli: Cli, sqlite_url: str, args, message: str) -> None:
    proc = cli.run("create", "--storage", sqlite_url, "--objective", "mock", *args, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("error: invalid search space:") and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
