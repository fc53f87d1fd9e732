"""Report figures (study artifacts) and learning curves (trial artifacts) in the study's
artifact store (`study.artifact_store` opens it), so optuna-dashboard can show them.
"""

from __future__ import annotations

import mimetypes
import uuid
from pathlib import Path

import optuna
from optuna.artifacts import upload_artifact
from optuna.trial import FrozenTrial

from storage import (
    register_finished_trial_artifact,
    storage_of,
    study_artifacts,
    trial_artifacts,
)


def put_study_artifact(study: optuna.Study, store, path: Path) -> str:
    """Upload `path` as a study artifact; a re-run replaces the file of the same name in place
    (same artifact id), so repeated reports do not pile up copies in the dashboard."""
    artifact_id = study_artifacts(study).get(path.name)
    if artifact_id is None:
        return upload_artifact(study_or_trial=study, file_path=str(path), artifact_store=store,
                               mimetype=mimetypes.guess_type(path.name)[0])
    with open(path, "rb") as f:
        store.write(artifact_id, f)
    return artifact_id


def trial_has_artifact(study: optuna.Study, trial: FrozenTrial, filename: str) -> bool:
    return filename in trial_artifacts(study, trial)


def put_trial_artifact(study: optuna.Study, trial: FrozenTrial, store, path: Path) -> str:
    """Upload `path` as an artifact of `trial`.

    A running trial takes it the Optuna way (`upload_artifact`); a finished trial's artifact is
    registered where optuna-dashboard also looks (`storage.optuna_seam.artifact_keys`).
    """
    if not trial.state.is_finished():
        return upload_artifact(study_or_trial=trial, file_path=str(path), artifact_store=store,
                               storage=storage_of(study))
    artifact_id = str(uuid.uuid4())
    with open(path, "rb") as f:
        store.write(artifact_id, f)
    mimetype, encoding = mimetypes.guess_type(path.name)
    register_finished_trial_artifact(study, trial, {
        "artifact_id": artifact_id, "filename": path.name,
        "mimetype": mimetype or "application/octet-stream", "encoding": encoding})
    return artifact_id
