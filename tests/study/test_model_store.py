"""Models travel with the study: the best k search models and one per replicate arm in the
artifact store, fetched and verified by export and evaluate on a host that never trained them.

The mock that saves real (untrained) models (`tests.study.saving_objective`) runs the service's
real workers in seconds; one slow test trains the real objective.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from storage import storage_of
from study import model_store
from study.replicates.plan import companion_name
from study.replicates.runs import answer_of
from tests.helpers import one_line_error
from tests.study.conftest import CLEARED, REPO, Cli, load

SAVES = "tests.study.saving_objective:SavesModels"
WORKERS = ("--devices", "cpu", "--per-device", "2", "--quiet")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def store_ids(store: Path) -> set[str]:
    return {p.name for p in store.iterdir()}


def cached(model_dir: Path, study: str) -> list[str]:
    directory = model_dir / study
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A study served by two worker processes: 8 search trials, then 2 seeds per replicate arm,
    every model going to a store outside the working directory (the shared mount)."""
    root = tmp_path_factory.mktemp("models")
    env = _environment(root)
    cli = Cli(env, root / "training-host")
    cli.cwd.mkdir()
    url, store = f"sqlite:///{cli.cwd / 'studies.db'}", root / "shared"
    cli.run("create", "--storage", url, "--objective", SAVES, "--pruner", "none",
            "--replicate-seeds", "2", "--max-seeds", "2", "--n-trials", "8", "--artifacts",
            str(store))
    cli.run("worker", "--storage", url, *WORKERS, timeout=300)
    return {"root": root, "cli": cli, "url": url, "store": store, "model_dir": root / "models"}


def _environment(root: Path) -> dict[str, str]:
    """What the `cli_env` fixture gives, for a module-scoped study."""
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["STUDY_CACHE_DIR"] = str(root / "cache")
    env["STUDY_MODEL_DIR"] = str(root / "models")
    return env


def another_host(trained: dict, name: str) -> Cli:
    """A working directory that never trained anything, with its own empty model cache."""
    cwd = trained["root"] / name
    cwd.mkdir()
    return Cli({**trained["cli"].env, "STUDY_MODEL_DIR": str(cwd / "models")}, cwd)


@pytest.mark.slow
def test_the_best_k_search_models_and_one_per_arm_stay_in_the_store(trained: dict) -> None:
    study, store = load(trained["url"]), trained["store"]
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 8
    best_k = sorted(complete, key=lambda t: (-t.value, t.number))[:model_store.defaults.MODELS_KEPT]
    kept = model_store.kept_models(study)
    assert [entry.trial for entry in kept] == [t.number for t in best_k]
    for entry, trial in zip(kept, best_k, strict=True):
        record = trial.user_attrs["model_artifact"]
        assert record == {"id": entry.artifact_id, "sha256": digest(store / entry.artifact_id),
                          "bytes": (store / entry.artifact_id).stat().st_size,
                          "store": str(store)}
    # Replicates: the first finished run of each arm kept its model until the phase was done;
    # then only the winner's stayed.
    companion = load(trained["url"], companion_name(study.study_name))
    runs = companion.get_trials(states=(TrialState.COMPLETE,))
    arms = {t.user_attrs["arm"] for t in runs}
    assert len(runs) == 2 * len(arms) >= 8
    plan = runs[0].user_attrs["plan"]
    per_arm = model_store.kept_models(companion)
    winner = answer_of(study).decisive.winner
    assert [entry.arm for entry in per_arm] == [f"{plan}:{winner}"]
    assert companion.trials[per_arm[0].trial].user_attrs["arm"] == winner
    # Exactly k + the winner's artifacts, and the training host caches exactly those.
    assert store_ids(store) == {entry.artifact_id for entry in [*kept, *per_arm]}
    assert cached(trained["model_dir"], study.study_name) == \
        sorted(f"trial_{t.number:05d}.pt" for t in best_k)
    assert cached(trained["model_dir"], companion.study_name) == \
        sorted(f"trial_{entry.trial:05d}.pt" for entry in per_arm)


@pytest.mark.slow
def test_export_and_evaluate_on_a_host_that_never_trained_fetch_and_verify(
        trained: dict) -> None:
    other = another_host(trained, "export-host")
    companion = load(trained["url"], companion_name("recon-lambda"))
    best = companion.trials[model_store.kept_models(companion)[0].trial]  # the winner's run
    exported = other.run("export", "--storage", trained["url"], module="study.best")
    record = json.loads(exported.stdout)
    assert record["model_from"] == f"recon-lambda-replicates trial {best.number}"
    fetched = other.cwd / "models" / "recon-lambda-replicates" / f"trial_{best.number:05d}.pt"
    # No --artifacts: the store is the one the model was uploaded to, as the study records.
    uploaded = best.user_attrs["model_artifact"]
    assert record["model"] == {"artifact_id": uploaded["id"], "sha256": uploaded["sha256"],
                               "bytes": uploaded["bytes"], "store": str(trained["store"]),
                               "path": str(fetched)}
    assert digest(fetched) == uploaded["sha256"]
    assert (record["model_path"], record["model_exists"], exported.stderr) == \
        (str(fetched), True, "")
    # The same with the shared store named, and a cache directory given by flag.
    flagged = other.run("export", "--storage", trained["url"], "--artifacts",
                        str(trained["store"]), "--model-dir", str(other.cwd / "cache2"),
                        module="study.best")
    assert json.loads(flagged.stdout)["model"]["path"] == \
        str(other.cwd / "cache2" / "recon-lambda-replicates" / fetched.name)


def _broken(trained: dict, name: str) -> tuple[Cli, str, Path, str]:
    """Another host, with a copy of the study and of its store to break."""
    other = another_host(trained, name)
    shutil.copy(trained["cli"].cwd / "studies.db", other.cwd / "studies.db")
    store = other.cwd / "store"
    shutil.copytree(trained["store"], store)
    url = f"sqlite:///{other.cwd / 'studies.db'}"
    companion = load(url, companion_name("recon-lambda"))
    winner = companion.trials[model_store.kept_models(companion)[0].trial]  # export's model
    return other, url, store, winner.user_attrs["model_artifact"]["id"]


@pytest.mark.slow
def test_a_corrupt_missing_or_unreachable_model_is_one_line(trained: dict) -> None:
    other, url, store, artifact = _broken(trained, "broken-host")
    companion = load(url, companion_name("recon-lambda"))
    trial = model_store.kept_models(companion)[0].trial
    flags = ("--storage", url, "--artifacts", str(store))
    with open(store / artifact, "r+b") as file:  # one flipped byte
        file.seek(100)
        byte = file.read(1)
        file.seek(100)
        file.write(bytes([byte[0] ^ 1]))
    exported = other.run("export", *flags, module="study.best")
    assert json.loads(exported.stdout)["model_exists"] is False
    lines = exported.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"warning: the model of trial {trial} of study 'recon-lambda-replicates' in the "
        f"artifact store "
        f"{store} is corrupt"), exported.stderr
    assert not (other.cwd / "models" / "recon-lambda-replicates" / f"trial_{trial:05d}.pt").exists()
    evaluate = ("evaluate", *flags, "--data", "synthetic:5")
    one_line_error(other.run(*evaluate, module="study.best", check=False),
                   f"trial {trial} of study 'recon-lambda-replicates'", str(store), "corrupt")
    (store / artifact).unlink()
    one_line_error(other.run(*evaluate, module="study.best", check=False),
                   f"trial {trial} of study 'recon-lambda-replicates'",
                   f"{artifact}) is missing from the "
                   f"artifact store {store}")
    nowhere = other.cwd / "nowhere"
    one_line_error(other.run("evaluate", "--storage", url, "--artifacts", str(nowhere),
                             "--data", "synthetic:5", module="study.best", check=False),
                   f"trial {trial} of study 'recon-lambda-replicates'",
                   f"{nowhere} does not exist")


def test_a_model_that_fell_out_of_the_top_k_says_so(trained: dict) -> None:
    study = load(trained["url"])
    kept = {entry.trial for entry in model_store.kept_models(study)}
    evicted = [t for t in study.trials if "model_artifact" in t.user_attrs
               and t.number not in kept]
    assert evicted, "with 8 trials in a random order some model entered the top 3 and left"
    with pytest.raises(model_store.ModelError, match=(
            f"the model of trial {evicted[0].number} of study 'recon-lambda' is no longer in "
            f"the artifact store {trained['store']}: only the best 3 search trials' models")):
        model_store.fetch_model(study, evicted[0], model_dir=trained["root"] / "unused",
                           location=str(trained["store"]))


def test_no_trial_names_a_removed_model_without_saying_so(trained: dict) -> None:
    """Evicted search models and the replicate arms' models that lost: their trials say the
    model was removed, name no local path, and list no artifact for optuna-dashboard to link."""
    for name in ("recon-lambda", companion_name("recon-lambda")):
        study = load(trained["url"], name)
        kept = {entry.trial for entry in model_store.kept_models(study)}
        removed = [t for t in study.trials if "model_artifact" in t.user_attrs
                   and t.number not in kept]
        assert removed, name
        for trial in removed:
            assert trial.user_attrs["model_artifact"]["removed"] == \
                f"removed from the store: {model_store.KEPT_ONLY}"
            assert "model_path" not in trial.user_attrs
            assert optuna.artifacts.get_all_artifact_meta(trial, storage=storage_of(study)) == []
        for number in kept:
            trial = study.trials[number]
            assert "removed" not in trial.user_attrs["model_artifact"]
            assert Path(trial.user_attrs.get("model_path", "/")).name == \
                f"trial_{number:05d}.pt" or name != "recon-lambda"
            assert len(optuna.artifacts.get_all_artifact_meta(
                trial, storage=storage_of(study))) == 1


def test_keep_models_keeps_the_winner_only(trained: dict) -> None:
    other, url, store, _ = _broken(trained, "keep-host")
    companion = load(url, companion_name("recon-lambda"))
    per_arm = model_store.kept_models(companion)
    cache = other.cwd / "models"
    for entry in per_arm:  # this host fetched every arm's model
        model_store.fetch_model(companion, companion.trials[entry.trial], model_dir=cache,
                           location=str(store))
    winner = per_arm[0].trial
    left = model_store.keep_models(companion, [winner], location=str(store), model_dir=cache)
    assert [entry.trial for entry in left] == [winner]
    assert [entry.trial for entry in model_store.kept_models(companion)] == [winner]
    search = {entry.artifact_id for entry in model_store.kept_models(load(url))}
    assert store_ids(store) == search | {per_arm[0].artifact_id}
    assert cached(cache, companion.study_name) == [f"trial_{winner:05d}.pt"]


@pytest.mark.slow
def test_a_replicate_without_model_path_is_run_without_one(cli: Cli, sqlite_url: str) -> None:
    cli.run("create", "--storage", sqlite_url, "--objective",
            "tests.study.saving_objective:SavesSearchModelsOnly", "--replicate-seeds", "1",
            "--n-trials", "3", "--pruner", "none")  # three finished trials, three models
    cli.run("worker", "--storage", sqlite_url, "--devices", "cpu", "--per-device", "1",
            "--quiet", timeout=300)
    companion = load(sqlite_url, companion_name("recon-lambda"))
    runs = companion.get_trials(states=(TrialState.COMPLETE,))
    assert runs and all("model_artifact" not in t.user_attrs for t in runs)
    assert model_store.kept_models(companion) == []
    assert len(model_store.kept_models(load(sqlite_url))) == 3


@pytest.mark.slow
def test_create_records_the_store_and_workers_use_it(cli: Cli, sqlite_url: str) -> None:
    """A worker started without a setting, elsewhere, uploads to the store the study names."""
    store = cli.cwd / "shared"
    cli.run("create", "--storage", sqlite_url, "--objective", SAVES, "--replicate-seeds", "0",
            "--artifacts", str(store))
    assert load(sqlite_url).user_attrs["artifact_store"] == str(store)
    elsewhere = cli.cwd / "elsewhere"
    elsewhere.mkdir()
    Cli(cli.env, elsewhere).run("worker", "--storage", sqlite_url, "--n-trials", "2",
                                "--devices", "cpu", "--per-device", "1", "--quiet")
    assert len(store_ids(store)) == 2 and not (elsewhere / "study_artifacts").exists()
    # A store no worker can open is one line before any trial trains.
    one_line_error(cli.run("worker", "--storage", sqlite_url, "--n-trials", "3", "--artifacts",
                           "ftp://x/y", "--devices", "cpu", "--per-device", "1", check=False),
                   "unknown artifact location scheme 'ftp'")
    assert len(load(sqlite_url).trials) == 2


@pytest.mark.slow
def test_the_real_models_best_is_exported_and_evaluated_where_it_was_not_trained(
        cli: Cli) -> None:
    store = cli.cwd / "shared"
    run = cli.run("run", "--data", "synthetic:6", "--n-trials", "4", "--max-epochs", "1",
                  "--devices", "cpu", "--per-device", "1", "--replicate-seeds", "1",
                  "--max-seeds", "1", "--artifacts", str(store), timeout=900)
    assert "4 finished search trials of a budget of 4" in run.stdout, run.stderr
    study = load(f"sqlite:///{cli.cwd / 'studies.db'}")
    companion = load(f"sqlite:///{cli.cwd / 'studies.db'}", companion_name("recon-lambda"))
    arms = {t.user_attrs["arm"] for t in companion.get_trials(states=(TrialState.COMPLETE,))}
    # The best 3 search models, and the winner's replicate model (the real objective saves one
    # per arm; once the phase is done the winner's alone stays).
    kept = [*model_store.kept_models(study), *model_store.kept_models(companion)]
    assert len(model_store.kept_models(companion)) == 1 and len(arms) >= 3
    assert store_ids(store) == {entry.artifact_id for entry in kept}
    assert len(model_store.kept_models(study)) == \
        min(3, len(study.get_trials(states=(TrialState.COMPLETE,))))
    other_cwd = cli.cwd / "other-host"
    other_cwd.mkdir()
    other = Cli(cli.env, other_cwd)
    flags = ("--storage", f"sqlite:///{cli.cwd / 'studies.db'}", "--artifacts", str(store),
             "--model-dir", str(other_cwd / "empty-cache"))
    exported = json.loads(other.run("export", *flags, module="study.best").stdout)
    fetched = Path(exported["model"]["path"])
    winner = companion.trials[model_store.kept_models(companion)[0].trial]
    assert fetched.parent == other_cwd / "empty-cache" / "recon-lambda-replicates"
    assert digest(fetched) == exported["model"]["sha256"] == \
        winner.user_attrs["model_artifact"]["sha256"]
    evaluated = json.loads(other.run("evaluate", *flags, "--data", "synthetic:5",
                                     module="study.best", timeout=600).stdout)
    assert evaluated["source"]["trial"] == exported["trial"]
    assert evaluated["model"] == str(fetched)
    assert 0.0 <= evaluated["accuracy"] <= 1.0 and evaluated["clips"] > 0


def test_optuna_records_the_uploaded_model_on_its_trial(trained: dict) -> None:
    """The dashboard lists a kept model among its trial's artifacts (Optuna's record)."""
    study = load(trained["url"])
    entry = model_store.kept_models(study)[0]
    metas = optuna.artifacts.get_all_artifact_meta(study.trials[entry.trial],
                                                   storage=storage_of(study))
    assert [(m.artifact_id, m.filename) for m in metas] == \
        [(entry.artifact_id, f"trial_{entry.trial:05d}.pt")]
