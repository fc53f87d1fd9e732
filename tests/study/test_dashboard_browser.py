"""optuna-dashboard in a real headless Chromium: the study, the report's note, its artifacts and
the importance chart listing λ; and the dashboard's importances against the service's own.

Needs Debian's `chromium` and `chromium-driver` and selenium; nothing is downloaded
(selenium-manager is kept offline and given the system chromedriver).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import optuna
import pytest
from optuna.artifacts import FileSystemArtifactStore

from study import analysis
from study.report import build_report
from tests.helpers import free_port, require_or_skip
from tests.study.report_studies import make_study

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
STUDY = "dashboard-mock"

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


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """A mocked study with the report's note and artifacts, served by `python -m study.dashboard`
    (one server for the module's tests: they only read)."""
    tmp_path = tmp_path_factory.mktemp("dashboard")
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = make_study("lambda", storage=url, name=STUDY, n_complete=40, n_pruned=4)
        (tmp_path / "artifacts").mkdir()
        build_report(study, tmp_path / "report",
                     artifact_store=FileSystemArtifactStore(tmp_path / "artifacts"))
    finally:
        optuna.logging.set_verbosity(verbosity)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = open(tmp_path / "dashboard.log", "w")  # noqa: SIM115 - closed after the server stops
    proc = subprocess.Popen(
        [sys.executable, "-m", "study.dashboard", "--storage", url, "--study", STUDY,
         "--artifacts", str(tmp_path / "artifacts"), "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"dashboard exited with {proc.returncode}: "
                            f"{(tmp_path / 'dashboard.log').read_text()}")
            try:
                studies = _get_json(f"{base}/api/studies")["study_summaries"]
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail("dashboard did not answer within 60 s")
                time.sleep(0.3)
        study_id = next(s["study_id"] for s in studies if s["study_name"] == STUDY)
        yield {"base": base, "study_id": study_id, "study": study}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_dashboard_importances_match_the_service(dashboard):
    base, study_id, study = dashboard["base"], dashboard["study_id"], dashboard["study"]
    body = _get_json(f"{base}/api/studies/{study_id}/param_importances")
    served = {entry["name"]: entry["importance"] for entry in body["param_importances"][0]}
    ours = analysis.param_importance(study, "ped-anova").importances
    assert max(served, key=served.get) == next(iter(ours)) == "log10_lambda"
    assert served == pytest.approx(ours, abs=1e-9)  # same evaluator, same end of the objective
    fanova = analysis.param_importance(study, "fanova")
    assert next(iter(fanova.importances)) == "log10_lambda"


def test_dashboard_serves_the_report_artifacts(dashboard):
    base, study_id = dashboard["base"], dashboard["study_id"]
    detail = _get_json(f"{base}/api/studies/{study_id}?after=0")
    names = {a["filename"] for a in detail["artifacts"]}
    assert {"REPORT.md", "figures.html", "accuracy_vs_lambda.png"} <= names
    curves = [a for t in detail["trials"] for a in t["artifacts"]
              if a["filename"] == "learning_curve.png"]
    assert len(curves) == len(detail["trials"]) == 44  # complete and pruned trials
    png = urllib.request.urlopen(
        f"{base}/artifacts/{study_id}/{detail['trials'][0]['trial_id']}/"
        f"{curves[0]['artifact_id']}", timeout=10).read()
    assert png[:4] == b"\x89PNG"


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


def test_dashboard_shows_study_note_artifacts_and_importance(dashboard, browser, tmp_path):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, study_id = dashboard["base"], dashboard["study_id"]
    browser.get(f"{base}/dashboard")
    WebDriverWait(browser, 30).until(lambda d: STUDY in d.find_element(By.TAG_NAME, "body").text)

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

    # The study page: its name, the importance chart with λ, the report's artifacts.
    browser.get(f"{base}/dashboard/studies/{study_id}")
    wait_for([STUDY, "Hyperparameter Importance", "Study Artifacts", "accuracy_vs"],
             "log10_lambda", "dashboard_failure.png")
    heading = browser.find_element(By.XPATH, "//*[normalize-space(text())="
                                             "'Hyperparameter Importance']")
    card = heading.find_element(By.XPATH, "./ancestor::*[.//*[name()='svg']][1]")
    labels = [e.text for e in card.find_elements(By.XPATH, ".//*[name()='text']")]
    assert "log10_lambda" in labels, labels  # a bar of the importance chart is λ's
    shot = tmp_path / "dashboard.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000

    # The study's note: the report's summary.
    browser.get(f"{base}/dashboard/studies/{study_id}/note")
    wait_for([STUDY, "How much λ matters", "rank 1 of 3", "PED-ANOVA"], None,
             "note_failure.png")
    note_shot = tmp_path / "dashboard_note.png"
    assert browser.save_screenshot(str(note_shot)) and note_shot.stat().st_size > 10_000
    if os.environ.get("DASHBOARD_SCREENSHOT_DIR"):  # to look at them after the run
        for path in (shot, note_shot):
            shutil.copy(path, Path(os.environ["DASHBOARD_SCREENSHOT_DIR"]) / path.name)
