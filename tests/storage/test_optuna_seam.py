"""Contract tests: one per item of `storage.optuna_seam`, against the installed Optuna and
optuna-dashboard. An upgrade that changes what the project relies on fails here first."""

from __future__ import annotations

import threading
import time
import warnings
from pathlib import Path

import optuna
import pytest
import sqlalchemy.exc
from optuna.trial import TrialState

from storage import open_storage
from storage import optuna_seam as seam

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def _study(url: str, **storage_options) -> optuna.Study:
    storage = open_storage(url, **storage_options)
    return optuna.create_study(study_name="s", storage=storage, direction="maximize")


def _beating(url: str, grace: int = 2) -> optuna.Study:
    return _study(url, heartbeat_interval=1, grace_period=grace)


def test_ids_and_storages_are_the_ones_optuna_uses(storage_url: str) -> None:
    study = _study(storage_url, heartbeat_interval=None)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    backend = seam.backend_of(study)
    assert isinstance(backend, optuna.storages.RDBStorage)
    assert seam.storage_of(study) is study._storage  # what Study's own methods use
    assert seam.study_id(study) == backend.get_study_id_from_name("s")
    frozen = study.trials[1]
    assert seam.trial_id(frozen) == backend.get_trial_id_from_study_id_trial_number(
        seam.study_id(study), 1)
    assert seam.count_trials(study, (TrialState.COMPLETE,)) == 2
    assert seam.count_trials(study, (TrialState.RUNNING,)) == 0


def test_study_lock_excludes_another_holder(storage_url: str) -> None:
    study = _study(storage_url, heartbeat_interval=None)
    other = optuna.load_study(study_name="s", storage=open_storage(storage_url,
                                                                   heartbeat_interval=None))
    order: list[str] = []

    def second() -> None:
        with seam.study_lock(other):
            order.append("second")

    with seam.study_lock(study):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)
        order.append("first")
    thread.join(timeout=10)
    assert order == ["first", "second"]


def test_heartbeat_queries_read_optunas_tables(tmp_path: Path) -> None:
    study = _beating(f"sqlite:///{tmp_path / 's.db'}")
    trial = study.ask()
    assert seam.running_with_heartbeat(study) == 0  # asked by hand: no heartbeat yet
    seam.backend_of(study).record_heartbeat(trial._trial_id)
    assert seam.running_with_heartbeat(study) == 1
    assert seam.stale_trial_ids(study) == set()
    time.sleep(3.5)  # past the 2 s grace period, at SQLite's whole-second clock
    assert seam.stale_trial_ids(study) == {trial._trial_id}


def test_a_stale_trial_is_retried_once_however_often_it_is_failed(tmp_path: Path) -> None:
    study = _beating(f"sqlite:///{tmp_path / 's.db'}")
    study.enqueue_trial({"x": 0.5}, user_attrs={"arm": "best"})
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    backend = seam.backend_of(study)
    backend.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    failed = backend.get_trial(trial._trial_id)
    retry = seam.RetryStaleTrialOnce(max_retry=3)
    retry(study, failed)
    retry(study, failed)  # a second worker that failed the same trial at the same moment
    retries = [t for t in study.get_trials() if seam.is_retry_of(t, trial.number)]
    assert len(retries) == 1
    assert retries[0].state == TrialState.WAITING
    assert retries[0].params == {"x": 0.5} and retries[0].user_attrs["arm"] == "best"


def test_behind_a_gate_only_the_locked_sweep_fails_stale_trials(tmp_path: Path) -> None:
    """Optuna's own sweep before each ask (unlocked) finds nothing behind a gate; `fail_stale`
    fails the stale trial and queues its retry in one step under the re-entrant study lock."""
    study = _beating(f"sqlite:///{tmp_path / 's.db'}")
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    seam.backend_of(study).record_heartbeat(trial._trial_id)
    gated = seam.GatedStudy(study, lambda gated, ask: ask())
    time.sleep(3.5)  # past the 2 s grace period, at SQLite's whole-second clock
    optuna.storages.fail_stale_trials(gated)  # what `optimize` runs before each ask
    assert [t.state for t in study.get_trials()] == [TrialState.RUNNING]
    assert seam.stale_trial_ids(gated) == {trial._trial_id}  # status still sees it
    with seam.study_lock(gated):  # held, as by a gate that counts: the sweep re-enters it
        seam.fail_stale(gated)
        assert [t.state for t in study.get_trials()] == [TrialState.FAIL, TrialState.WAITING]
    assert seam.is_retry_of(study.get_trials()[1], trial.number)


def test_fail_and_requeue_and_fail_if_running(tmp_path: Path) -> None:
    study = _beating(f"sqlite:///{tmp_path / 's.db'}")
    assert isinstance(seam.backend_of(study).get_heartbeat_stale_trial_callback(),
                      optuna.storages.RetryHeartbeatStaleTrialCallback | seam.RetryStaleTrialOnce)
    first, second = study.ask(), study.ask()
    seam.fail_and_requeue(study, first._trial_id)
    seam.fail_and_requeue(study, first._trial_id)  # finished now: left alone
    states = [t.state for t in study.get_trials()]
    assert states[:2] == [TrialState.FAIL, TrialState.RUNNING]
    assert sum(seam.is_retry_of(t, first.number) for t in study.get_trials()) == 1
    assert seam.fail_if_running(study, second._trial_id)
    assert not seam.fail_if_running(study, second._trial_id)


def test_tell_of_a_finished_trial_is_refused_with_the_known_message() -> None:
    study = optuna.create_study()
    trial = study.ask()
    study.tell(trial, state=TrialState.FAIL)
    with pytest.raises(ValueError) as refused:
        study.tell(trial, 1.0)
    assert seam.tell_was_refused(refused.value)
    assert not seam.tell_was_refused(ValueError("something else"))


def test_the_storage_error_behind_optunas_failed_tell_is_found(tmp_path: Path) -> None:
    study = _study(f"sqlite:///{tmp_path / 's.db'}", heartbeat_interval=None)
    backend = seam.backend_of(study)
    lost = sqlalchemy.exc.OperationalError("UPDATE", {}, Exception("server closed the connection"))

    def fail(*args, **kwargs):
        raise lost

    backend.set_trial_state_values = fail  # the database goes away while the trial is told
    backend.get_trial = fail
    with pytest.raises(Exception) as raised:
        study.optimize(lambda t: 1.0, n_trials=1)
    assert seam.error_behind(raised.value) is lost


def test_the_storage_error_behind_a_tell_that_failed_just_before_the_database_came_back(
        tmp_path: Path) -> None:
    # The failover case: the tell meets the old server, the read after it the new one.
    study = _study(f"sqlite:///{tmp_path / 's.db'}", heartbeat_interval=None)
    backend = seam.backend_of(study)
    lost = sqlalchemy.exc.OperationalError("UPDATE", {}, Exception("server closed the connection"))

    def fail(*args, **kwargs):
        raise lost

    backend.set_trial_state_values = fail  # the trial stays RUNNING; get_trial still answers
    with pytest.raises(Exception) as raised:
        study.optimize(lambda t: 1.0, n_trials=1)
    assert seam.error_behind(raised.value) is lost
    assert seam.error_behind(AssertionError("x")).args == ("x",)


def test_optimize_asks_through_the_gate(tmp_path: Path) -> None:
    study = _study(f"sqlite:///{tmp_path / 's.db'}", heartbeat_interval=None)
    asked: list[int] = []

    def gate(gated, ask):
        trial = ask()
        asked.append(trial.number)
        return trial

    gated = seam.GatedStudy(study, gate)
    gated.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    assert asked == [0, 1, 2]
    assert gated.last_trial_id == seam.trial_id(study.trials[2])


def test_artifact_keys_are_the_ones_optuna_and_the_dashboard_use(tmp_path: Path) -> None:
    from optuna.artifacts import FileSystemArtifactStore, upload_artifact
    from optuna_dashboard.artifact._backend import get_trial_artifact_meta

    study = _study(f"sqlite:///{tmp_path / 's.db'}", heartbeat_interval=None)
    study.optimize(lambda t: 1.0, n_trials=1)
    store = FileSystemArtifactStore(tmp_path / "artifacts")
    (tmp_path / "artifacts").mkdir()
    figure = tmp_path / "figure.png"
    figure.write_bytes(b"png")
    artifact_id = upload_artifact(study_or_trial=study, file_path=str(figure),
                                  artifact_store=store)
    assert seam.study_artifacts(study) == {"figure.png": artifact_id}
    trial = study.trials[0]
    with open(figure, "rb") as handle:
        store.write("a1", handle)
    seam.register_finished_trial_artifact(study, trial, {
        "artifact_id": "a1", "filename": "curve.png", "mimetype": "image/png",
        "encoding": None})
    assert seam.trial_artifacts(study, trial) == {"curve.png": "a1"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        meta = get_trial_artifact_meta(seam.backend_of(study), seam.study_id(study),
                                       seam.trial_id(trial), "a1")
    assert meta["filename"] == "curve.png"


def test_a_finished_trials_model_record_is_forgotten_where_optuna_and_the_dashboard_look(
        tmp_path: Path) -> None:
    from optuna.artifacts import FileSystemArtifactStore, get_all_artifact_meta, upload_artifact
    from optuna_dashboard.artifact._backend import get_trial_artifact_meta, list_trial_artifacts

    study = _study(f"sqlite:///{tmp_path / 's.db'}", heartbeat_interval=None)
    (tmp_path / "artifacts").mkdir()
    store = FileSystemArtifactStore(tmp_path / "artifacts")
    model = tmp_path / "trial_00000.pt"
    model.write_bytes(b"weights")

    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr("model_path", str(model))
        trial.set_user_attr("model_artifact", {"id": upload_artifact(
            study_or_trial=trial, file_path=str(model), artifact_store=store)})
        return 1.0

    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    artifact_id = trial.user_attrs["model_artifact"]["id"]
    keep = tmp_path / "other.png"
    keep.write_bytes(b"png")
    with open(keep, "rb") as handle:
        store.write("a1", handle)
    seam.register_finished_trial_artifact(study, trial, {
        "artifact_id": "a1", "filename": "other.png", "mimetype": "image/png", "encoding": None})
    backend = seam.backend_of(study)
    assert get_trial_artifact_meta(backend, seam.study_id(study), trial._trial_id,
                                   artifact_id)["filename"] == "trial_00000.pt"
    # Finished: Optuna refuses to change its attributes; the seam does it.
    seam.forget_trial_model(study, trial._trial_id, artifact_id,
                                 {"model_artifact": {"id": artifact_id, "removed": "why"}},
                                 ("model_path",))
    fresh = backend.get_trial(trial._trial_id)
    assert fresh.user_attrs == {"model_artifact": {"id": artifact_id, "removed": "why"}}
    assert get_all_artifact_meta(fresh, storage=backend) == []
    assert get_trial_artifact_meta(backend, seam.study_id(study), trial._trial_id,
                                   artifact_id) is None
    listed = list_trial_artifacts(backend.get_study_system_attrs(seam.study_id(study)),
                                  fresh.system_attrs, fresh)
    assert [meta["artifact_id"] for meta in listed] == ["a1"]  # other artifacts stay
    assert fresh.state == TrialState.COMPLETE and fresh.value == 1.0
