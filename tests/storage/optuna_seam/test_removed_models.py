"""Contract test of `storage.optuna_seam.removed_models` (a finished trial's model record
forgotten where Optuna and optuna-dashboard look) against the installed versions: an upgrade that
changes what the project relies on fails here first."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from storage import optuna_seam as seam
from tests.storage.optuna_seam.studies import make_study

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def test_a_finished_trials_model_record_is_forgotten_where_optuna_and_the_dashboard_look(
        tmp_path: Path) -> None:
    from optuna.artifacts import FileSystemArtifactStore, get_all_artifact_meta, upload_artifact
    from optuna_dashboard.artifact._backend import get_trial_artifact_meta, list_trial_artifacts

    study = make_study(f"sqlite:///{tmp_path / 's.db'}", heartbeat_interval=None)
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
