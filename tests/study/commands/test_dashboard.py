"""optuna-dashboard in a real headless Chromium, on a study made by the real service
(`python -m study run --objective mock`, then `python -m study report`, then
`python -m study dashboard`): the search study's note leads with the verdict, the replicates
study is listed with its own note, the metric is named, the report's artifacts are served, and
the dashboard's importances equal the service's own.

Needs Debian's `chromium` and `chromium-driver` and selenium; nothing is downloaded
(selenium-manager is kept offline and given the system chromedriver).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import optuna
import pytest

from study import service
from study.analysis import importance
from study.replicates.plan import companion_name
from study.replicates.runs import answer_of
from study.reporting.answer_text import use_line
from tests.helpers import free_port, require_or_skip
from tests.study.conftest import Cli
from tests.study.report_studies import cli_mock_study

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
STUDY = "dashboard-mock"
COMPANION = companion_name(STUDY)

pytestmark = pytest.mark.browser


def _need_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip)")
    if missing:
        require_or_skip("REQUIRE_BROWSER", f"browser test needs {', '.join(missing)} (apt-get "
                        "install chromium chromium-driver)")


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read().decode())


def _serve(cli: Cli, url: str, artifacts_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(cli.cwd / "dashboard.log", "w")  # noqa: SIM115 - the child keeps its own copy
    proc = subprocess.Popen(
        cli.argv("dashboard", "--storage", url, "--study", STUDY, "--artifacts",
                 str(artifacts_dir), "--host", "127.0.0.1", "--port", str(port)),
        cwd=cli.cwd, env=cli.env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """The service's own study (search and replicates) with its report, served by
    `python -m study dashboard` (one server for the module's tests: they only read)."""
    tmp = tmp_path_factory.mktemp("dashboard")
    # The mock that saves a real model per trial, as the real objective does: the best 3 search
    # models and one per replicate arm stay in the store, the others are removed from it.
    cli, url = cli_mock_study(tmp, STUDY, 30, "tests.study.saving_objective:SavesModels",
                              "--artifacts", str(tmp / "artifacts"))
    cli.run("report", "--storage", url, "--study", STUDY, "--artifacts", str(tmp / "artifacts"),
            "--output", str(tmp / "report"), timeout=300)
    proc, base = _serve(cli, url, tmp / "artifacts")
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"dashboard exited with {proc.returncode}: "
                            f"{(tmp / 'dashboard.log').read_text()}")
            try:
                studies = _get_json(f"{base}/api/studies")["study_summaries"]
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail("dashboard did not answer within 60 s")
                time.sleep(0.3)
        ids = {s["study_name"]: s["study_id"] for s in studies}
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            study = service.open_study(url, STUDY).study
        finally:
            optuna.logging.set_verbosity(verbosity)
        yield {"base": base, "ids": ids, "study": study, "answer": answer_of(study)}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_dashboard_importances_match_the_service(dashboard):
    base, study = dashboard["base"], dashboard["study"]
    body = _get_json(f"{base}/api/studies/{dashboard['ids'][STUDY]}/param_importances")
    served = {entry["name"]: entry["importance"] for entry in body["param_importances"][0]}
    ours = importance.param_importance(study, "ped-anova").importances
    assert served == pytest.approx(ours, abs=1e-9)  # same evaluator, same end of the objective
    assert max(served, key=served.get) == next(iter(ours))
    assert next(iter(importance.param_importance(study, "fanova").importances)) == "log10_lambda"


def test_dashboard_serves_both_studies_their_metric_name_and_artifacts(dashboard):
    base, ids = dashboard["base"], dashboard["ids"]
    assert {STUDY, COMPANION} <= set(ids)
    detail = _get_json(f"{base}/api/studies/{ids[STUDY]}?after=0")
    assert detail["objective_names"] == [service.METRIC_NAME]
    names = {a["filename"] for a in detail["artifacts"]}
    assert {"REPORT.md", "figures.html", "effects_lambda.png", "accuracy_vs_lambda.png"} <= names
    assert detail["note"]["body"].startswith("**Use: λ = ")
    finished = [t for t in detail["trials"] if t["state"] in ("Complete", "Pruned")]
    curves = [a for t in detail["trials"] for a in t["artifacts"]
              if a["filename"] == "learning_curve.png"]
    assert len(curves) == len(finished) == 30  # complete and pruned trials
    png = urllib.request.urlopen(
        f"{base}/artifacts/{ids[STUDY]}/{finished[0]['trial_id']}/"
        f"{finished[0]['artifacts'][0]['artifact_id']}", timeout=10).read()
    assert png[:4] == b"\x89PNG"
    companion = _get_json(f"{base}/api/studies/{ids[COMPANION]}?after=0")
    assert companion["objective_names"] == [service.METRIC_NAME]
    assert {a["filename"] for a in companion["artifacts"]} == {
        "REPORT.md", "effects.html", "lambda_curve.png", "effects_forest.png",
        "effects_lambda.png", "effects_differences.png"}
    assert len(companion["trials"]) == dashboard["answer"].planned
    for page in (detail, companion):  # the answer's plots, as the dashboard's API serves them
        assert sorted(g["id"] for g in page["plotly_graph_objects"]) == [
            "answer-effects", "answer-lambda-curve"], page["plotly_graph_objects"]
    # Its runs carry their arm's parameters: the importance panel answers (it answered 500,
    # "division by zero", on a study whose trials had none).
    importances = _get_json(f"{base}/api/studies/{ids[COMPANION]}/param_importances")
    names = {p["name"] for p in importances["param_importances"][0]}
    assert names == {"log10_lambda", "dropout", "hidden"}


def test_every_artifact_link_of_the_run_answers(dashboard):
    """Every artifact link the dashboard shows, study and trial, of both studies: none is a 500
    (models removed from the store answered `ArtifactNotFound`), and no trial lists a model
    that is gone."""
    base, ids, links = dashboard["base"], dashboard["ids"], []
    for name in (STUDY, COMPANION):
        detail = _get_json(f"{base}/api/studies/{ids[name]}?after=0")
        links += [(a["filename"], f"{base}/artifacts/{ids[name]}/{a['artifact_id']}")
                  for a in detail["artifacts"]]
        links += [(a["filename"],
                   f"{base}/artifacts/{ids[name]}/{t['trial_id']}/{a['artifact_id']}")
                  for t in detail["trials"] for a in t["artifacts"]]
    answers = {}
    for filename, link in links:
        try:
            with urllib.request.urlopen(link, timeout=30) as response:
                answers[link] = (filename, response.status)
        except urllib.error.HTTPError as exc:
            answers[link] = (filename, exc.code)
    failed = {link: answer for link, answer in answers.items() if answer[1] != 200}
    assert not failed, f"{len(failed)} of {len(links)} artifact links fail: {failed}"
    listed_models = [f for f, _ in answers.values() if f.endswith(".pt")]
    # The best 3 search models and the replicate winner's; every other model was removed and is
    # not listed, though most trials uploaded one on the way.
    assert len(listed_models) == 4, listed_models
    study = dashboard["study"]
    removed = [t for t in study.trials if t.user_attrs.get("model_artifact", {}).get("removed")]
    assert removed and all("model_path" not in t.user_attrs for t in removed)


@pytest.fixture
def browser(tmp_path, monkeypatch):
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # selenium-manager must not download anything
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1400,2600",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _note_lines(browser, base: str, study_id: int, wait_for) -> list[str]:
    """The lines of a study's note page, from the line after its "Note" heading."""
    from selenium.webdriver.common.by import By

    browser.get(f"{base}/dashboard/studies/{study_id}/note")
    wait_for(["Note", "λ effect: "], None, f"note_{study_id}_failure.png")
    lines = browser.find_element(By.TAG_NAME, "body").text.splitlines()
    return lines[lines.index("Note") + 1:]


def test_dashboard_shows_the_verdict_first_the_replicates_and_the_metric(dashboard, browser,
                                                                       tmp_path):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, ids, answer = dashboard["base"], dashboard["ids"], dashboard["answer"]

    def wait_for(wanted: list[str], svg_label: str | None, shot: str) -> None:
        def ready(d) -> bool:
            text = d.find_element(By.TAG_NAME, "body").text
            if not all(w in text for w in wanted):
                return False
            return svg_label is None or bool(d.find_elements(
                By.XPATH, f"//*[name()='svg']//*[name()='text' and contains(., '{svg_label}')]"))

        try:
            WebDriverWait(browser, 45).until(ready)
        except TimeoutException:
            browser.save_screenshot(str(tmp_path / shot))
            text = browser.find_element(By.TAG_NAME, "body").text
            missing = [w for w in wanted if w not in text] or [f"{svg_label} in a chart"]
            pytest.fail(f"dashboard page lacks {missing}; screenshot in {tmp_path / shot}")

    # The study list holds the search study and its replicates study.
    browser.get(f"{base}/dashboard")
    wait_for([STUDY, COMPANION], None, "list_failure.png")

    # The study page: the metric's name, the importance chart with λ, the report's artifacts.
    browser.get(f"{base}/dashboard/studies/{ids[STUDY]}")
    wait_for([STUDY, "validation accuracy", "Hyperparameter Importance", "Study Artifacts",
              "effects_lambda.png"], "log10_lambda", "dashboard_failure.png")
    assert "Objective 0" not in browser.find_element(By.TAG_NAME, "body").text
    heading = browser.find_element(By.XPATH, "//*[normalize-space(text())="
                                             "'Hyperparameter Importance']")
    card = heading.find_element(By.XPATH, "./ancestor::*[.//*[name()='svg']][1]")
    labels = [e.text for e in card.find_elements(By.XPATH, ".//*[name()='text']")]
    assert "log10_lambda" in labels, labels  # a bar of the importance chart is λ's
    shot = tmp_path / "dashboard.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000

    # Both studies' pages carry the answer's two plots, below the built-in charts.
    for name in (STUDY, COMPANION):
        browser.get(f"{base}/dashboard/studies/{ids[name]}")
        wait_for([name], "The λ curve at dropout", f"curve_plot_{name}_failure.png")
        wait_for([name], "The three effects by one measure", f"effects_plot_{name}_failure.png")
    browser.get(f"{base}/dashboard/studies/{ids[STUDY]}")

    # The study page shows the answer's first lines (the study's user attribute `answer`).
    use = use_line(answer)
    wait_for([use[:60]], None, "answer_failure.png")
    # The search study's note starts with the configuration to use, as the service computes it.
    lines = _note_lines(browser, base, ids[STUDY], wait_for)
    assert lines[0] == use, lines[:3]
    assert any(line.startswith("reference's claim (test accuracy): ") for line in lines)
    note_shot = tmp_path / "dashboard_note.png"
    assert browser.save_screenshot(str(note_shot)) and note_shot.stat().st_size > 10_000

    # The replicates study has its own note: the verdict, then its arms.
    lines = _note_lines(browser, base, ids[COMPANION], wait_for)
    assert lines[0] == use, lines[:3]
    assert f"Replicate runs of study {STUDY}" in lines
    assert any(line.startswith("dropout 0 (low end) ") for line in lines)
    replicates_shot = tmp_path / "dashboard_replicates_note.png"
    assert browser.save_screenshot(str(replicates_shot))
    if os.environ.get("DASHBOARD_SCREENSHOT_DIR"):  # to look at them after the run
        for path in (shot, note_shot, replicates_shot):
            shutil.copy(path, Path(os.environ["DASHBOARD_SCREENSHOT_DIR"]) / path.name)
