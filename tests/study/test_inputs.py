"""What users type, through the real commands: study names (checked at create and run, mapped to a
safe directory when an old study has an unsafe one), a mistyped profile, an extended budget."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from study.service import name_on_disk
from tests.helpers import cli_error, one_line_error
from tests.study.conftest import Cli, load

SAVES_MODELS = "tests.study.saving_objective:SavesModels"
WORKER = ("--devices", "cpu", "--per-device", "1", "--quiet")


@pytest.fixture
def work(cli: Cli, tmp_path: Path) -> Cli:
    """The CLI in tmp_path/work, models in tmp_path/work/models: anything else written below
    tmp_path (but the feature cache) escaped."""
    (tmp_path / "work").mkdir()
    return Cli({**cli.env, "STUDY_MODEL_DIR": str(tmp_path / "work" / "models")},
               tmp_path / "work")


def written(root: Path) -> list[str]:
    """Every file and directory below `root`, relative, the feature cache left out."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.relative_to(root).parts[0] != "cache")


UNSAFE = {
    "parent": "../../x",
    "absolute": "{tmp}/abs",
    "long": "a" * 300,
    "slash": "a/b",
    "dot first": ".hidden",
    "dash first": "-x",
    "underscore first": "_x",
    "markup": "<b>x</b>",
    "space": "my study",
    "101 characters": "a" * 101,
}


# Every name through `create`; the three also through `run` and through STUDY_NAME.
CASES = [pytest.param("create", name, id=f"create-{key}") for key, name in UNSAFE.items()] + [
    pytest.param(command, UNSAFE[key], id=f"{command}-{key}")
    for command in ("run", "env") for key in ("parent", "absolute", "long")]


@pytest.mark.parametrize("command, name", CASES)
def test_unsafe_names_are_refused(work: Cli, tmp_path: Path, command: str, name: str) -> None:
    name = name.format(tmp=tmp_path)
    args = ("run", "--n-trials", "2", *WORKER) if command == "run" else ("create",)
    flags = ("--objective", "mock") if command == "env" else ("--objective", "mock",
                                                              f"--study={name}")
    proc = work.run(*args, *flags, env={"STUDY_NAME": name} if command == "env" else None,
                    check=False)
    line = one_line_error(proc, "invalid study name", "use 1 to 100 letters, digits, '.', '_' "
                          "or '-', starting with a letter or digit")
    assert len(line) < 200, line  # a 300-character name is shortened, not echoed whole
    assert written(tmp_path) == ["work"]  # no storage, no model directory, nothing outside


@pytest.mark.slow
def test_longest_name_saves_models_inside_model_dir(work: Cli, tmp_path: Path) -> None:
    name = "v1.2_" + "a" * 95
    work.run("create", "--objective", SAVES_MODELS, "--replicate-seeds", "0", "--study", name)
    work.run("worker", "--study", name, "--n-trials", "2", *WORKER)
    models = sorted(p.name for p in (tmp_path / "work" / "models" / name).iterdir())
    assert models == ["trial_00000.pt", "trial_00001.pt"]


@pytest.mark.parametrize("name", ["../../escape", "{tmp}/absolute", "a" * 300, "<b>x</b>"],
                         ids=["parent", "absolute", "long", "markup"])
@pytest.mark.slow
def test_legacy_unsafe_name_keeps_models_inside_model_dir(work: Cli, tmp_path: Path,
                                                          name: str) -> None:
    """A study created before names were checked (here: with Optuna's API) is still served."""
    name = name.format(tmp=tmp_path)
    url = f"sqlite:///{work.cwd / 'studies.db'}"
    work.run("create", "--objective", SAVES_MODELS, "--replicate-seeds", "0", "--study", "model")
    legacy = optuna.create_study(storage=url, study_name=name, direction="maximize")
    for key, value in load(url, "model").user_attrs.items():
        legacy.set_user_attr(key, value)
    work.run("worker", "--study", name, "--n-trials", "2", *WORKER)

    safe = name_on_disk(name)
    assert "/" not in safe and not safe.startswith(".") and len(safe) <= 100
    # The models' copies in the artifact store (the study's, under work/) are named by id.
    assert [p for p in written(tmp_path)
            if not p.startswith(("work/studies.db", "work/study_artifacts"))] == [
        "work", "work/models", f"work/models/{safe}", f"work/models/{safe}/trial_00000.pt",
        f"work/models/{safe}/trial_00001.pt"]
    assert not (tmp_path.parent / "escape").exists()
    exported = json.loads(work.run("export", "--study", name, module="study.best").stdout)
    assert exported["model_exists"] is True
    assert Path(exported["model_path"]).parent == tmp_path / "work" / "models" / safe


def test_mistyped_profile_is_a_usage_error(work: Cli, tmp_path: Path) -> None:
    for command in ("create", "run", "worker"):
        err = cli_error(work.run(command, "--profile", "papr", check=False), code=2)
        assert "argument --profile: invalid choice: 'papr' (choose from" in err
    assert written(tmp_path) == ["work"]


@pytest.mark.slow
def test_extending_a_finished_study(cli: Cli) -> None:
    run = ("run", "--objective", "mock", "--replicate-seeds", "0", "--per-device", "1")
    cli.run(*run, "--n-trials", "6")
    extended = cli.run(*run, "--n-trials", "9")
    assert "budget of study 'recon-lambda': 6 → 9 finished trials" in extended.stderr
    assert extended.stdout.startswith("study recon-lambda: 9 finished search trials of a budget "
                                      "of 9")
    status = cli.run("status").stdout
    assert "finished      9 / 9" in status.splitlines()
    info = json.loads(cli.run("status", "--format", "json").stdout)
    assert (info["finished"], info["budget"]) == (9, 9)
    exported = json.loads(cli.run("export", module="study.best").stdout)
    assert exported["experiment"]["n_trials"] == 9
    complete = load(f"sqlite:///{cli.cwd / 'studies.db'}").get_trials(states=[TrialState.COMPLETE])
    assert exported["value"] == max(t.value for t in complete)
    # A worker started later (another host) serves the stored budget: nothing left to run.
    again = cli.run("worker", *WORKER[:4])
    assert "already has 9 finished trials" in again.stderr


@pytest.mark.slow
def test_status_says_why_a_study_is_over_its_budget(cli: Cli) -> None:
    cli.run("create", "--objective", "mock", "--n-trials", "3", "--replicate-seeds", "0")
    cli.run("worker", "--n-trials", "5", *WORKER)  # this worker's own stop condition
    assert "finished      5 / 3 (over the budget: a worker ran with a larger --n-trials, or the " \
           "budget was lowered; `run --n-trials N` sets it)" in cli.run("status").stdout
