"""The report: files, summary, dashboard note and artifacts, the command line, the ablation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.artifacts import FileSystemArtifactStore, get_all_artifact_meta
from study.ablation import (
    AblationPlan,
    AblationResult,
    AblationRun,
    load_ablation,
    run_ablation,
    save_ablation,
)

from study import artifacts
from study.report import LEARNING_CURVE_ARTIFACT, build_report
from tests.study.report_studies import make_study

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ["accuracy_vs_lambda", "lambda_x_dropout", "lambda_x_hidden", "learning_curves",
           "accuracy_vs_cost"]


@pytest.fixture(autouse=True)
def _quiet_optuna():
    optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def sqlite_study(tmp_path):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = make_study("lambda", storage=url, name="mock-report", n_complete=40, n_pruned=4)
    return url, study


def _note(study: optuna.Study) -> str:
    from optuna_dashboard._note import get_note_from_system_attrs

    attrs = study._storage.get_study_system_attrs(study._study_id)
    return get_note_from_system_attrs(attrs, None)["body"]


def test_report_files_summary_note_and_artifacts(sqlite_study, tmp_path):
    _, study = sqlite_study
    store = FileSystemArtifactStore(tmp_path / "artifacts")
    (tmp_path / "artifacts").mkdir()
    report = build_report(study, tmp_path / "out", artifact_store=store)

    names = sorted(p.name for p in report.files)
    assert names == sorted(["REPORT.md", "figures.html", *(f"{f}.png" for f in FIGURES)])
    for name in FIGURES:
        assert (tmp_path / "out" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (tmp_path / "out" / "figures.html").read_text(encoding="utf-8")
    assert html.count("Plotly.newPlot") == len(FIGURES)
    assert "\\u03bb = 0" in html or "λ = 0" in html  # the λ = 0 tick label
    assert 'src="https://cdn.plot.ly' not in html  # plotly.js is embedded: opens offline

    for evaluator in ("fANOVA", "PED-ANOVA"):
        assert f"{evaluator}" in report.summary
    assert report.summary.count("rank 1 of 3") == 2
    assert "over 40 complete trials" in report.summary
    assert "λ = 0 (" in report.summary and "λ > 0 (" in report.summary
    md = (tmp_path / "out" / "REPORT.md").read_text(encoding="utf-8")
    assert report.summary in md and "![accuracy_vs_lambda](accuracy_vs_lambda.png)" in md

    note = _note(study)
    assert "How much λ matters" in note and "rank 1 of 3" in note

    metas = {m.filename: m for m in get_all_artifact_meta(study)}
    assert set(metas) == set(names)
    assert metas["accuracy_vs_lambda.png"].mimetype == "image/png"
    # every finished trial (complete and pruned) has its learning curve
    assert report.trial_artifacts == 44
    trial = study.trials[5]
    assert artifacts.trial_has_artifact(study, trial, LEARNING_CURVE_ARTIFACT)
    stored = sorted(p.name for p in (tmp_path / "artifacts").iterdir())
    assert len(stored) == len(names) + 44

    # A second report replaces the study's figures in place and uploads no curve twice.
    again = build_report(study, tmp_path / "out", artifact_store=store)
    assert again.study_artifacts == report.study_artifacts and again.trial_artifacts == 0
    assert len(get_all_artifact_meta(study)) == len(names)
    assert len(list((tmp_path / "artifacts").iterdir())) == len(stored)


def test_report_where_lambda_does_not_matter(tmp_path):
    study = make_study("dropout")
    report = build_report(study, tmp_path / "out", save_note=False)
    assert "rank 1 of 3" not in report.summary
    assert all(r.rank != 1 for r in report.importances)


def test_report_shows_a_saved_ablation(tmp_path):
    study = make_study("lambda")
    plan = AblationPlan(trial_number=3, lam=3.0, dropout=0.2, hidden=64)
    runs = [(0.80, 0.76), (0.82, 0.80), (0.78, 0.77), (0.84, 0.79)]
    result = AblationResult(
        plan, [AblationRun(10 + i, 3.0, a, a, 5, 1.0, "cpu") for i, (a, _) in enumerate(runs)],
        [AblationRun(10 + i, 0.0, b, b, 5, 1.0, "cpu") for i, (_, b) in enumerate(runs)])
    save_ablation(study, result)
    assert load_ablation(study) == result
    report = build_report(study, tmp_path / "out", save_note=False)
    assert "4 seeds each" in report.summary
    assert "81.00 ±" in report.summary and "78.00 ±" in report.summary
    assert "paired difference: 3.00 ± 2.91 points" in report.summary
    assert "the reconstruction loss helps" in report.summary
    assert "| 10 | 0.8000 | 0.7600 | +0.0400 |" in report.markdown


def test_report_refuses_a_study_without_complete_trials(tmp_path):
    study = make_study("lambda", n_complete=0, n_pruned=2)
    with pytest.raises(ValueError, match="no complete trials"):
        build_report(study, tmp_path / "out")


def test_artifact_location_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv(artifacts.ARTIFACTS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert artifacts.resolve_artifacts_location() == str(tmp_path / "study_artifacts")
    monkeypatch.setenv(artifacts.ARTIFACTS_ENV, "env_dir")
    assert artifacts.resolve_artifacts_location() == str(tmp_path / "env_dir")
    assert artifacts.resolve_artifacts_location("flag") == str(tmp_path / "flag")
    assert artifacts.resolve_artifacts_location(None, {}) == str(tmp_path / "study_artifacts")
    assert artifacts.resolve_artifacts_location("s3://bucket/x") == "s3://bucket/x"
    store = artifacts.open_artifact_store(f"file://{tmp_path / 'viaurl'}")
    assert isinstance(store, FileSystemArtifactStore) and (tmp_path / "viaurl").is_dir()
    with pytest.raises(artifacts.ArtifactStoreError, match="unknown artifact location scheme"):
        artifacts.open_artifact_store("ftp://host/x")


def _run(*argv: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items()
               if k not in ("STUDY_STORAGE", "OPTUNA_STORAGE", "STUDY_NAME",
                            artifacts.ARTIFACTS_ENV)}
    environ["PYTHONPATH"] = str(ROOT)
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", *argv], cwd=cwd, env=environ, check=False,
                          capture_output=True, text=True, timeout=300)


def test_report_command(sqlite_study, tmp_path):
    url, _study = sqlite_study
    done = _run("study.report", "--storage", url, "--study", "mock-report", cwd=tmp_path,
                env={artifacts.ARTIFACTS_ENV: str(tmp_path / "env_artifacts")})
    assert done.returncode == 0, done.stderr
    assert "Importance of λ (log10_lambda):" in done.stdout
    assert done.stdout.count("rank 1 of 3") == 2
    assert "λ effect" in done.stdout and "Ablation: not run" in done.stdout
    # defaults resolved where the command runs: ./report and STUDY_ARTIFACTS
    assert (tmp_path / "report" / "REPORT.md").is_file()
    assert len(list((tmp_path / "env_artifacts").iterdir())) == 7 + 44
    assert "How much λ matters" in _note(optuna.load_study(study_name="mock-report",
                                                            storage=url))


def test_report_command_errors(sqlite_study, tmp_path):
    url, _ = sqlite_study
    done = _run("study.report", "--storage", url, "--study", "nope", "--no-artifacts",
                cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("error: no study 'nope'") and "'mock-report'" in done.stderr
    assert "Traceback" not in done.stderr
    done = _run("study.report", "--storage", url, "--study", "mock-report",
                "--artifacts", "ftp://x/y", cwd=tmp_path)
    assert done.returncode == 1 and "unknown artifact location scheme" in done.stderr
    done = _run("study.report", "--storage", url, "--study", "mock-report", "--ablation",
                "--seeds", "0", cwd=tmp_path)
    assert done.returncode == 1 and "--seeds must be at least 1" in done.stderr


def test_study_cli_wires_report_and_dashboard(tmp_path):
    for command in ("report", "dashboard"):
        done = _run("study", command, "--help", cwd=tmp_path)
        assert done.returncode == 0, f"`python -m study {command}` is not wired: {done.stderr}"
        assert "--artifacts" in done.stdout


@pytest.mark.slow
def test_ablation_runs_through_the_real_training(tmp_path):
    plan = AblationPlan(trial_number=0, lam=1.0, dropout=0.1, hidden=16)
    lines: list[str] = []
    result = run_ablation(plan, data="synthetic:8", profile="quick", cache_dir=tmp_path / "cache",
                          seeds=2, device="cpu", max_epochs=1, log=lines.append)
    assert [r.lam for r in result.with_lambda] == [1.0, 1.0]
    assert [r.lam for r in result.without_lambda] == [0.0, 0.0]
    assert [r.seed for r in result.with_lambda] == [r.seed for r in result.without_lambda]
    assert all(0.0 <= r.test_accuracy <= 1.0 and r.epochs == 1
               for r in result.with_lambda + result.without_lambda)
    assert len(lines) == 4 and "ablation 4/4" in lines[-1]
    stats = result.stats
    assert stats.difference.n == 2
    json.dumps(result.to_dict())  # what the study stores must be JSON
