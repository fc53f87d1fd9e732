"""Contract test of `storage.optuna_seam.artifact_keys` (the artifact keys of Optuna and optuna-dashboard) against the installed
versions: an upgrade that changes what the project relies on fails here first."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from storage import optuna_seam as seam
from tests.storage.optuna_seam.studies import make_study

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def test_artifact_keys_are_the_ones_optuna_and_the_dashboard_use(tmp_path: Path) -> None:
    from optuna.artifacts import FileSystemArtifactStore, upload_artifact
    from optuna_dashboard.artifact._backend import get_trial_artifact_meta

    study = make_study(f"sqlite:///{tmp_path / 's.db'}", heartbeat_interval=None)
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
