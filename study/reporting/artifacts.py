"""The artifact store: where report figures (study artifacts) and learning curves (trial
artifacts) go, so optuna-dashboard can show them.

Configured like storage: `--artifacts URL_OR_DIR`, else `STUDY_ARTIFACTS`, else
`./study_artifacts` in the directory the command runs in (resolved at call time). A plain path or
`file://PATH` is Optuna's file-system store; `s3://BUCKET` and `gs://BUCKET` use Optuna's Boto3 and
GCS stores (their client libraries are optional dependencies).
"""

from __future__ import annotations

import mimetypes
import uuid
from pathlib import Path
from urllib.parse import urlparse

import optuna
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from optuna.trial import FrozenTrial

from storage.optuna_internals import (
    register_finished_trial_artifact,
    storage_of,
    study_artifacts,
    trial_artifacts,
)
from study.defaults import ARTIFACTS_ENV  # named in messages; study.defaults resolves it


class ArtifactStoreError(RuntimeError):
    """A one-line, user-facing problem with the artifact location."""


def artifact_dir(location: str) -> Path | None:
    """The directory of a file-system location (what `optuna-dashboard --artifact-dir` takes)."""
    if "://" not in location:
        return Path(location)
    parsed = urlparse(location)
    if parsed.scheme == "file":
        return Path(parsed.netloc + parsed.path)
    return None


def open_artifact_store(location: str, *, create: bool = True):
    """An Optuna artifact store for a resolved location (`study.defaults.artifacts`)."""
    directory = artifact_dir(location)
    if directory is not None:
        if create:
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ArtifactStoreError(
                    f"cannot create artifact directory {directory}: {exc.strerror}; "
                    f"pass a writable --artifacts DIR or set {ARTIFACTS_ENV}") from None
        elif not directory.is_dir():
            raise ArtifactStoreError(f"artifact directory {directory} does not exist; run "
                                     "`python -m study report` first or pass --artifacts DIR")
        return FileSystemArtifactStore(directory)
    parsed = urlparse(location)
    try:
        if parsed.scheme == "s3":
            from optuna.artifacts import Boto3ArtifactStore

            return Boto3ArtifactStore(parsed.netloc)
        if parsed.scheme in ("gs", "gcs"):
            from optuna.artifacts import GCSArtifactStore

            return GCSArtifactStore(parsed.netloc)
    except ImportError as exc:
        raise ArtifactStoreError(f"artifact store {parsed.scheme}:// needs an extra package "
                                 f"({exc}); install it or use a directory") from None
    raise ArtifactStoreError(f"unknown artifact location scheme {parsed.scheme!r}; use a "
                             "directory, file://DIR, s3://BUCKET or gs://BUCKET")


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
    registered where optuna-dashboard also looks (storage.optuna_internals).
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
