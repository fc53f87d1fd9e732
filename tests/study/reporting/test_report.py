"""The report: it leads with the answer of the replicate phase, then the importances, then the
search; REPORT.md, figures, notes and artifacts; names escaped; the command line with
`--format json` and `--ablation`."""

from __future__ import annotations

import json
import re

import optuna
import pytest
from optuna.artifacts import FileSystemArtifactStore, get_all_artifact_meta
from optuna_dashboard import get_note

from objectives.search_space import from_params
from study import artifact_store, service
from study.errors import UserError
from study.output import finite
from study.replicates.plan import companion_name, current_plan, ensure_planned, open_companion
from study.replicates.runs import answer_of
from study.reporting import artifacts
from study.reporting.markdown import code, md
from study.reporting.report import LEARNING_CURVE_ARTIFACT, build_report
from study.reporting.report_text import answer_lines
from study.trials import best_trial
from tests.helpers import one_line_error
from tests.study.report_studies import cli_mock_study, make_loaded, run_replicates
from tests.study.reporting.dashboard_plots import saved_plots

ODD_NAME = "a<b>&c"  # the CLI refuses such names now; older studies may have them
SEARCH_FIGURES = ["accuracy_vs_lambda", "lambda_x_dropout", "lambda_x_hidden", "learning_curves",
                  "accuracy_vs_cost"]
EFFECT_FIGURES = ["lambda_curve", "effects_forest", "effects_lambda", "effects_differences"]


@pytest.fixture(autouse=True)
def _quiet_optuna():
    optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def replicated(tmp_path_factory):
    """A mock study named like `a<b>&c` with a holdout source, whose replicate phase ran through
    the service's worker and the mock objective, and its report with artifacts and notes."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tmp = tmp_path_factory.mktemp("replicated")
    loaded = make_loaded("lambda", storage=f"sqlite:///{tmp / 'studies.db'}", name=ODD_NAME,
                         n_complete=40, n_pruned=4, holdout_data="synthetic:4")
    run_replicates(loaded, tmp)
    (tmp / "artifacts").mkdir()
    store = FileSystemArtifactStore(tmp / "artifacts")
    report = build_report(loaded, tmp / "out", artifact_store=store)
    return {"loaded": loaded, "report": report, "out": tmp / "out", "store": store,
            "store_dir": tmp / "artifacts"}


@pytest.mark.slow
def test_the_summary_leads_with_the_answer(replicated):
    loaded, report = replicated["loaded"], replicated["report"]
    answer = answer_of(loaded.study)
    assert answer is not None and answer.finished == answer.planned == len(answer.plan.arms) * 3
    lines = report.summary.splitlines()
    assert lines[:len(answer_lines(answer))] == answer_lines(answer)
    assert lines[0].startswith("Use: λ = ") and "replicated" in lines[0]
    assert answer.plan.source_trial == best_trial(loaded.study).number
    effect = answer.decisive.effect("λ")
    assert effect.low > 0  # the mock's λ helps by ~12 points
    assert "  λ effect:        the λ gain, best λ > 0 (λ = " in report.summary
    assert "λ > 0 helps" in report.summary
    assert report.answer == answer
    # then the importances, then the search phase with its selection-biased gap
    text = report.summary
    assert text.index("λ effect:") < text.index("Importance of λ") < text.index("Search phase")
    search = text[text.index("Search phase"):]
    assert "selection-biased, not an effect" in search
    assert "best λ > 0 minus best λ = 0" in search and "points" in search


def test_importances_use_every_trial_and_say_on_how_many(replicated):
    report = replicated["report"]
    labels = [r.label for r in report.importances]
    assert labels == ["fANOVA (40 complete trials)", "PED-ANOVA (40 complete trials)",
                      "fANOVA (44 finished trials at epoch 2)"]  # pruned trials stop at 3 epochs
    assert all(r.rank == 1 for r in report.importances)
    for label in labels:
        assert f"  {label}: rank 1 of 3, share " in report.summary
    assert report.agreement.endswith("the evaluators agree")
    assert f"  {report.agreement}" in report.summary
    assert md(report.agreement) in report.markdown


def test_report_md_has_the_verdicts_the_arms_table_and_the_figures(replicated):
    out, report = replicated["out"], replicated["report"]
    markdown = (out / "REPORT.md").read_text(encoding="utf-8")
    assert markdown == report.markdown + "\n"
    title, blank, verdict = markdown.splitlines()[:3]
    assert title == f"# Does the reconstruction loss help? Study {code(ODD_NAME)}" and blank == ""
    assert verdict.startswith("**Use: λ = ") and "| λ | 0 |" in markdown
    assert "The three effects by one measure" in markdown and "- ranking: λ " in markdown
    assert "| arm | seeds | test accuracy, % (95 % CI) | arm − best, points (95 % CI) |" \
        in markdown
    for summary in report.answer.test.arms:
        ci = summary.accuracy
        assert f"| {md(summary.arm.label)} | 3 | {ci.mean * 100:.1f} ({ci.low * 100:.1f} … " \
               f"{ci.high * 100:.1f}) |" in markdown
    assert markdown.index("![lambda_curve](lambda_curve.png)") \
        < markdown.index("![effects_lambda](effects_lambda.png)") \
        < markdown.index("## Parameter importances") < markdown.index("## Search phase")
    for name in SEARCH_FIGURES:
        assert f"![{name}]({name}.png)" in markdown
    names = sorted(p.name for p in report.files)
    assert names == sorted(["REPORT.md", "figures.html", "effects.html",
                            *(f"{f}.png" for f in SEARCH_FIGURES + EFFECT_FIGURES)])
    for name in SEARCH_FIGURES + EFFECT_FIGURES:
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_effects_figure_has_error_bars_on_a_lambda_axis(replicated):
    out, answer = replicated["out"], replicated["report"].answer
    page = (out / "effects.html").read_text(encoding="utf-8")
    assert page.count("Plotly.newPlot") == len(EFFECT_FIGURES)
    assert 'src="https://cdn.plot.ly' not in page  # plotly.js is embedded: opens offline
    figure = json.loads(re.search(r'Plotly\.newPlot\(\s*"effects_lambda",\s*(\[.*?\]),\s*\{',
                                  page, re.DOTALL).group(1))
    lam_arms = figure[0]
    means = {a.arm.lam: a.accuracy for a in answer.test.arms if a.arm.factor in (None, "λ")}
    assert lam_arms["y"] == pytest.approx([means[lam].mean * 100 for lam in sorted(means)])
    assert lam_arms["error_y"]["array"] == pytest.approx(
        [(means[lam].high - means[lam].mean) * 100 for lam in sorted(means)])
    # λ = 0 at the left of the log axis, a decade below the decade of the smallest λ > 0
    assert lam_arms["x"][0] * 10 <= lam_arms["x"][1] and lam_arms["x"] == sorted(lam_arms["x"])
    assert '"type":"log"' in page and ('"ticktext":["\\u03bb = 0"' in page
                                       or '"ticktext":["λ = 0"' in page)
    whole = (out / "figures.html").read_text(encoding="utf-8")
    assert whole.count("Plotly.newPlot") == len(SEARCH_FIGURES + EFFECT_FIGURES)


def test_the_holdout_split_is_shown_beside_the_test_split(replicated):
    out, report = replicated["out"], replicated["report"]
    assert [split.split for split in report.answer.splits] == ["test", "holdout"]
    assert "The arms (holdout accuracy; " in report.summary
    # The holdout table's bootstrap resamples holdout clips, and says so.
    holdout_table = report.summary.split("The arms (holdout accuracy; ")[1]
    assert "over holdout clips and seeds" in holdout_table, holdout_table
    assert "test clips" not in holdout_table, holdout_table
    assert "The three effects by one measure, at " in report.summary
    assert report.answer.holdout is not None and report.answer.holdout.effect("λ") is not None
    assert md("The three effects by one measure, at ") in report.markdown
    assert "| arm | seeds | holdout accuracy, % (95 % CI) |" in report.markdown
    page = (out / "effects.html").read_text(encoding="utf-8")
    # Only λ arms stand on the λ axis (issue 25); the dropout arm is in the differences figure.
    assert "holdout: paired t-interval" in page and "holdout: dropout 0 (low end)" not in page
    # the λ curve of the holdout source, beside the test's (plotly writes λ as \\u03bb)
    assert "holdout: \\u03bb = 0" in page or "holdout: λ = 0" in page
    splits = report.data["answer"]["splits"]
    assert [s["split"] for s in splits] == ["test", "holdout"]


def test_notes_lead_with_the_verdict_and_the_replicates_study_has_its_own(replicated):
    loaded, report = replicated["loaded"], replicated["report"]
    note = get_note(loaded.study)
    assert note == report.note
    assert note.startswith("**Use: λ = ")
    assert loaded.study.user_attrs["answer"].startswith("Use: λ = ")  # on the study's page
    assert "| λ = 0 | 3 |" in note and "## Parameter importances" in note
    companion = open_companion(loaded.study, create=False)
    replicates_note = get_note(companion)
    assert replicates_note == report.replicates_note
    assert replicates_note.startswith("**Use: λ = ")
    assert f"## Replicate runs of study {code(ODD_NAME)}" in replicates_note
    assert "| dropout 0 (low end) | 3 |" in replicates_note
    assert companion.metric_names == [service.METRIC_NAME]


@pytest.mark.slow
def test_artifacts_of_both_studies_and_curves_once(replicated):
    loaded, report, store = replicated["loaded"], replicated["report"], replicated["store"]
    study = loaded.study
    metas = {m.filename: m for m in get_all_artifact_meta(study)}
    assert set(metas) == {p.name for p in report.files}
    assert metas["effects_lambda.png"].mimetype == "image/png"
    companion = open_companion(study, create=False)
    assert {m.filename for m in get_all_artifact_meta(companion)} == {
        "REPORT.md", "effects.html", *(f"{name}.png" for name in EFFECT_FIGURES)}
    assert report.trial_artifacts == 44  # every finished trial, complete and pruned
    assert artifacts.trial_has_artifact(study, study.trials[5], LEARNING_CURVE_ARTIFACT)
    stored = len(list(replicated["store_dir"].iterdir()))
    # A second report replaces the figures in place and uploads no curve twice.
    again = build_report(loaded, replicated["out"], artifact_store=store, save_note=False)
    assert again.study_artifacts == report.study_artifacts
    assert again.replicates_artifacts == report.replicates_artifacts
    assert again.trial_artifacts == 0
    assert len(list(replicated["store_dir"].iterdir())) == stored


def test_names_are_escaped_in_html_and_markdown(replicated):
    out, report = replicated["out"], replicated["report"]
    for page in ("figures.html", "effects.html"):
        html = (out / page).read_text(encoding="utf-8")
        assert "<title>Study a&lt;b&gt;&amp;c" in html and "<h1>Study a&lt;b&gt;&amp;c" in html
        assert ODD_NAME not in html
    for text in (report.markdown, report.note, report.replicates_note):
        outside_code = re.sub(r"(`+).*?\1", "", text)
        outside_code = re.sub(r"^    .*$", "", outside_code, flags=re.MULTILINE)  # code blocks
        assert "<b>" not in outside_code and ODD_NAME not in outside_code
    assert md("p <b> & x|y") == "p \\<b> & x\\|y" and md("p < 0.001") == "p < 0.001"
    assert code("a`b") == "``a`b``"


@pytest.mark.slow
def test_without_replicates_the_report_says_so_and_how_to_run_them(tmp_path):
    loaded = make_loaded("lambda", n_complete=20, n_pruned=2)
    report = build_report(loaded, tmp_path / "out", save_note=False)
    lines = report.summary.splitlines()
    assert lines[0] == ("The answer: not measured yet. The replicate phase has not run (it has "
                        "not been planned yet).")
    assert "python -m study replicate --study mock-report --seeds 3" in lines[2]
    assert "python -m study report --study mock-report --ablation --seeds 3" in lines[3]
    assert report.note.startswith("**The answer: not measured yet.**")
    assert report.answer is None and report.replicates_note is None
    assert report.data["answer"] is None
    assert not (tmp_path / "out" / "effects_lambda.png").exists()
    unfinished = make_loaded("lambda", n_complete=5, n_pruned=1, budget=20)
    assert "(it starts once the search budget is finished: 6 of 20 search trials are)" in \
        build_report(unfinished, tmp_path / "o2", save_note=False).summary
    none = make_loaded("lambda", n_complete=5, n_pruned=1, seeds=0)
    assert "created with --replicate-seeds 0" in \
        build_report(none, tmp_path / "o3", save_note=False).summary


@pytest.mark.slow
def test_a_planned_but_unfinished_phase_says_how_to_finish_it(tmp_path):
    loaded = make_loaded("lambda", storage=f"sqlite:///{tmp_path / 'studies.db'}",
                         n_complete=10, n_pruned=1)
    ensure_planned(loaded)  # planned (it takes the study's lock), none run
    report = build_report(loaded, tmp_path / "out", save_note=False)
    lines = report.summary.splitlines()
    planned = report.answer.planned
    assert lines[0] == "Use: not decided yet — no replicate run has finished"
    assert planned == 3 * len(report.answer.plan.arms)
    assert f"Rounds: 1 (0/{planned} runs finished)" in report.summary
    assert "  reference's claim:  λ = 10 vs λ = 0: no paired seed finished yet" in lines
    assert "  to finish the replicate runs: python -m study worker --study mock-report, or " \
           "here: python -m study report --study mock-report --ablation" in lines


@pytest.mark.slow
def test_report_where_lambda_does_not_matter(tmp_path):
    report = build_report(make_loaded("dropout"), tmp_path / "out", save_note=False)
    assert all(r.rank != 1 for r in report.importances)
    assert "rank 1 of 3" not in report.summary


def test_report_refuses_a_study_without_complete_trials(tmp_path):
    with pytest.raises(UserError, match="no complete trials"):
        build_report(make_loaded("lambda", n_complete=0, n_pruned=2), tmp_path / "out")


def test_finite_replaces_what_json_cannot_hold():
    assert finite({"a": [1.0, float("nan")], "b": (float("inf"), "x", None)}) == \
        {"a": [1.0, None], "b": [None, "x", None]}


def test_artifact_store_locations(tmp_path):
    store = artifact_store.open_artifact_store(f"file://{tmp_path / 'viaurl'}")
    assert isinstance(store, FileSystemArtifactStore) and (tmp_path / "viaurl").is_dir()
    with pytest.raises(artifact_store.ArtifactStoreError, match="unknown artifact location"):
        artifact_store.open_artifact_store("ftp://host/x")
    with pytest.raises(artifact_store.ArtifactStoreError, match="does not exist"):
        artifact_store.open_artifact_store(str(tmp_path / "missing"), create=False)


# --------------------------------------------------------------------------- the command


def _strict_json(text: str):
    def refuse(constant: str):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def cli_study(tmp_path_factory):
    """A study made by the real service (search and replicates of the mock objective)."""
    return cli_mock_study(tmp_path_factory.mktemp("cli"), "cli", n_trials=8)


@pytest.mark.slow
def test_report_command_json_has_the_answers_numbers(cli_study):
    cli, url = cli_study
    done = cli.run("report", "--storage", url, "--study", "cli", "--format", "json",
                   "--no-artifacts", "--output", str(cli.cwd / "json-report"))
    data = _strict_json(done.stdout)  # stdout holds the JSON and nothing else
    loaded = service.open_study(url, "cli")
    answer = answer_of(loaded.study)
    assert data["answer"] == finite(answer.as_dict())
    assert data["answer"]["winner"]["arm"] == answer.decisive.winner
    assert data["answer"]["decisive"]["effects"][0]["name"] == "λ"
    assert [r["evaluator"] for r in data["importances"]] == ["fanova", "ped-anova", "fanova"]
    assert [r["epoch"] for r in data["importances"]][:2] == [None, None]
    assert data["search"]["best_trial"]["number"] == best_trial(loaded.study).number
    assert data["search"]["selection_biased_lambda_gap"]["caveat"].startswith("the best single")
    assert str(cli.cwd / "json-report" / "REPORT.md") in data["files"]


@pytest.mark.slow
def test_report_command_text_writes_files_notes_and_artifacts(cli_study):
    cli, url = cli_study
    done = cli.run("report", "--storage", url, "--study", "cli",
                   env={"STUDY_ARTIFACTS": str(cli.cwd / "env_artifacts")})
    loaded = service.open_study(url, "cli")
    answer = answer_of(loaded.study)
    assert done.stdout.startswith("\n".join(answer_lines(answer)) + "\n\nImportance")
    assert "Dashboard: the study's note saved, and the replicates study's" in done.stdout
    # defaults resolved where the command runs: ./report and STUDY_ARTIFACTS
    assert (cli.cwd / "report" / "REPORT.md").is_file()
    assert (cli.cwd / "env_artifacts").is_dir()
    assert get_note(loaded.study).startswith("**Use: λ = ")
    assert get_note(open_companion(loaded.study, create=False)).startswith("**Use: λ = ")


@pytest.mark.slow
def test_report_command_errors(cli_study):
    cli, url = cli_study
    one_line_error(cli.run("report", "--storage", url, "--study", "nope", "--no-artifacts",
                           check=False), "no study 'nope'", "'cli'")
    one_line_error(cli.run("report", "--storage", url, "--study", "cli", "--artifacts",
                           "ftp://x/y", check=False), "unknown artifact location scheme")
    usage = cli.run("report", "--storage", url, "--study", "cli", "--ablation", "--seeds", "0",
                    check=False)
    assert usage.returncode == 2 and "must be a positive integer, got 0" in usage.stderr


def _replicate_trials(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=companion_name(name), storage=url).get_trials(
        states=(optuna.trial.TrialState.COMPLETE,))


def _check_ablation(url: str, name: str, data: dict, seeds: int) -> list:
    """The facts the old ablation promised: the best trial's configuration is replicated, and
    λ = 0 runs against the λ arm seed by seed."""
    loaded = service.open_study(url, name)
    best = best_trial(loaded.study)
    plan = current_plan(open_companion(loaded.study, create=False))
    assert data["answer"]["source_trial"] == plan.source_trial == best.number
    p = from_params(best.params, loaded.experiment.search)
    best_arm = next(a for a in plan.arms if a.key == "best")
    assert (best_arm.lam, best_arm.dropout, best_arm.hidden) == (p.lam, p.dropout, p.hidden)
    runs = _replicate_trials(url, name)
    assert len(runs) == plan.runs == data["answer"]["finished"] >= len(plan.arms) * seeds
    by_arm = {}
    for t in runs:
        by_arm.setdefault(t.user_attrs["arm"], {})[t.user_attrs["seed"]] = t.user_attrs
    lam_arm = by_arm[next(a.key for a in plan.arms if a.factor == "λ" and a.lam > 0)]
    # λ = 0 at the best's dropout and hidden size: the best itself when the best has λ = 0
    zero = by_arm[next(a.key for a in plan.arms if a.lam == 0 and a.dropout == best_arm.dropout
                       and a.hidden == best_arm.hidden)]
    assert sorted(lam_arm)[:seeds] == sorted(zero)[:seeds] == list(range(seeds))  # by seed
    for k in range(seeds):
        assert lam_arm[k]["train_seed"] == zero[k]["train_seed"]
        assert zero[k]["lambda"] == 0.0 and lam_arm[k]["lambda"] > 0
    effect = data["answer"]["decisive"]["effects"][0]
    assert effect["name"] == "λ" and effect["n"] >= seeds
    assert loaded.experiment.replicates.seeds == seeds  # stored: every worker serves the same
    return runs


@pytest.mark.slow
def test_report_ablation_plans_and_runs_the_replicates_here(tmp_path, cli):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    cli.run("run", "--storage", url, "--study", "abl", "--objective", "mock", "--n-trials", "6",
            "--replicate-seeds", "0", "--devices", "cpu", "--per-device", "1", timeout=300)
    assert open_companion(service.open_study(url, "abl").study, create=False) is None
    done = cli.run("report", "--storage", url, "--study", "abl", "--ablation", "--seeds", "2",
                   "--no-artifacts", "--format", "json", "--device", "cpu", timeout=300)
    _check_ablation(url, "abl", _strict_json(done.stdout), seeds=2)


@pytest.mark.slow
def test_report_ablation_refuses_before_the_search_is_finished(tmp_path, cli):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    cli.run("create", "--storage", url, "--study", "early", "--objective", "mock",
            "--n-trials", "8")
    one_line_error(cli.run("report", "--storage", url, "--study", "early", "--ablation",
                           "--no-artifacts", check=False),
                   "runs once its search is finished", "0 finished trials of a budget of 8")


@pytest.mark.slow
def test_report_ablation_runs_through_the_real_training(tmp_path, cli):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    cli.run("run", "--storage", url, "--study", "real", "--data", "synthetic:8", "--profile",
            "quick", "--max-epochs", "2", "--n-trials", "2", "--replicate-seeds", "0",
            "--devices", "cpu", "--per-device", "1", timeout=600)
    done = cli.run("report", "--storage", url, "--study", "real", "--ablation", "--seeds", "2",
                   "--no-artifacts", "--format", "json", "--device", "cpu", timeout=900)
    runs = _check_ablation(url, "real", _strict_json(done.stdout), seeds=2)
    for t in runs:  # trained by the real objective: its epochs, device and per-clip predictions
        assert t.user_attrs["epochs"] <= 2 and t.user_attrs["device"].startswith("cpu")
        assert 0.0 <= t.user_attrs["test_accuracy"] <= 1.0 and t.user_attrs["seconds"] > 0
        assert t.user_attrs["test_predictions"] and t.user_attrs["test_labels"]


def test_study_cli_wires_report_and_dashboard(cli):
    for command in ("report", "dashboard"):
        done = cli.run(command, "--help")
        assert "--artifacts" in done.stdout


@pytest.mark.slow
def test_both_dashboard_pages_carry_the_answers_curve_and_effects_plots(replicated):
    """Saved when the phase ended and replaced (same ids) by the report: two plots per study,
    the curve's points and the three effects the answer's own numbers, in percent."""
    loaded = replicated["loaded"]
    answer = answer_of(loaded.study)
    companion = open_companion(loaded.study, create=False)
    for study in (loaded.study, companion):
        plots = saved_plots(study)
        assert sorted(plots) == ["answer-effects", "answer-lambda-curve"], sorted(plots)
        curve = plots["answer-lambda-curve"]
        assert curve["layout"]["title"]["text"].startswith("The λ curve at dropout ")
        shown = sorted(round(y, 6) for trace in curve["data"] if trace["mode"] == "markers"
                       or trace["mode"] == "lines+markers" for y in trace["y"])
        means = sorted(round(p.mean * 100, 6) for split in (answer.decisive, answer.holdout)
                       for p in split.curve.points)
        assert shown == means
        effects = plots["answer-effects"]
        test = next(t for t in effects["data"] if t["name"] == "test accuracy")
        assert [round(y, 6) for y in test["y"]] == [
            round(e.estimate * 100, 6) for e in answer.decisive.effects]
        # no plotly theme (6.5 KB of JSON each): the dashboard stores figures in 2 KB attributes
        assert len(json.dumps(curve["layout"].get("template", {}))) < 500
    note = get_note(loaded.study)
    assert "\"Best Trial\" is its best single run on validation accuracy" in note
    assert "\"Best Trial\" card mean nothing here" in get_note(companion)
