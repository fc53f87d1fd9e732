"""The artifact store: where report figures (study artifacts) and learning curves (trial
artifacts) go, so optuna-dashboard can show them.

Configured like storage: `--artifacts URL_OR_DIR`, else `STUDY_ARTIFACTS`, else
`./study_artifacts` in the directory the command runs in (resolved at call time). A plain path or
`file://PATH` is Optuna's file-system store; `s3://BUCKET` and `gs://BUCKET` use Optuna's Boto3 and
GCS stores (their client libraries are optional dependencies).
"""

from __future__ import annotations

import json
import mimetypes
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

import optuna
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from optuna.trial import FrozenTrial

ARTIFACTS_ENV = "STUDY_ARTIFACTS"
DEFAULT_ARTIFACTS = "./study_artifacts"
_ATTR_PREFIX = "artifacts:"  # Optuna's (and the dashboard's) system-attribute key prefix
_DASHBOARD_TRIAL_PREFIX = "dashboard:artifacts:"  # optuna-dashboard: artifacts of trial N


class ArtifactStoreError(RuntimeError):
    """A one-line, user-facing problem with the artifact location."""


def resolve_artifacts_location(cli_value: str | None = None,
                               environ: Mapping[str, str] | None = None) -> str:
    """`--artifacts` > STUDY_ARTIFACTS > ./study_artifacts; a path comes back absolute."""
    env = os.environ if environ is None else environ
    value = cli_value or env.get(ARTIFACTS_ENV) or DEFAULT_ARTIFACTS
    if "://" in value:
        return value
    return str(Path(value).expanduser().resolve())


def artifact_dir(location: str) -> Path | None:
    """The directory of a file-system location (what `optuna-dashboard --artifact-dir` takes)."""
    if "://" not in location:
        return Path(location)
    parsed = urlparse(location)
    if parsed.scheme == "file":
        return Path(parsed.netloc + parsed.path)
    return None


def open_artifact_store(location: str, *, create: bool = True):
    """An Optuna artifact store for a resolved location (see `resolve_artifacts_location`)."""
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


def _artifact_metas(system_attrs: Mapping[str, object]) -> dict[str, str]:
    """filename → artifact id; entries the dashboard deleted (stored as JSON null) are skipped."""
    found = {}
    for key, raw in system_attrs.items():
        if not key.startswith(_ATTR_PREFIX) or not isinstance(raw, str):
            continue
        meta = json.loads(raw)
        if isinstance(meta, dict) and "filename" in meta:
            found[meta["filename"]] = meta["artifact_id"]
    return found


def put_study_artifact(study: optuna.Study, store, path: Path) -> str:
    """Upload `path` as a study artifact; a re-run replaces the file of the same name in place
    (same artifact id), so repeated reports do not pile up copies in the dashboard."""
    existing = _artifact_metas(study._storage.get_study_system_attrs(study._study_id))
    artifact_id = existing.get(path.name)
    if artifact_id is None:
        return upload_artifact(study_or_trial=study, file_path=str(path), artifact_store=store,
                               mimetype=mimetypes.guess_type(path.name)[0])
    with open(path, "rb") as f:
        store.write(artifact_id, f)
    return artifact_id


def _trial_metas(study: optuna.Study, trial: FrozenTrial) -> dict[str, str]:
    study_attrs = study._storage.get_study_system_attrs(study._study_id)
    prefix = f"{_DASHBOARD_TRIAL_PREFIX}{trial._trial_id}:"
    found = _artifact_metas({_ATTR_PREFIX + k[len(prefix):]: v
                             for k, v in study_attrs.items() if k.startswith(prefix)})
    found.update(_artifact_metas(study._storage.get_trial_system_attrs(trial._trial_id)))
    return found


def trial_has_artifact(study: optuna.Study, trial: FrozenTrial, filename: str) -> bool:
    return filename in _trial_metas(study, trial)


def put_trial_artifact(study: optuna.Study, trial: FrozenTrial, store, path: Path) -> str:
    """Upload `path` as an artifact of `trial`.

    A running trial takes it the Optuna way (`upload_artifact`). A finished trial's system
    attributes are read-only, so its artifact is registered where optuna-dashboard also looks
    for trial artifacts: the study system attribute `dashboard:artifacts:<trial_id>:<id>`.
    """
    if not trial.state.is_finished():
        return upload_artifact(study_or_trial=trial, file_path=str(path), artifact_store=store,
                               storage=study._storage)
    artifact_id = str(uuid.uuid4())
    with open(path, "rb") as f:
        store.write(artifact_id, f)
    mimetype, encoding = mimetypes.guess_type(path.name)
    meta = {"artifact_id": artifact_id, "filename": path.name,
            "mimetype": mimetype or "application/octet-stream", "encoding": encoding}
    study._storage.set_study_system_attr(
        study._study_id, f"{_DASHBOARD_TRIAL_PREFIX}{trial._trial_id}:{artifact_id}",
        json.dumps(meta))
    return artifact_id
