"""The artifact store: where a study's models (`study.model_store`), report figures and learning
curves (`study.reporting.artifacts`) go, opened from one location string.

The location is resolved by `study.defaults.artifacts`: `--artifacts`, else `STUDY_ARTIFACTS`,
else the one the study recorded when it was created, else `./study_artifacts`. A plain path or
`file://PATH` is Optuna's file-system store (shared across hosts only when the directory is: NFS,
a shared volume); `s3://BUCKET` and `gs://BUCKET` use Optuna's Boto3 and GCS stores (their
client libraries, boto3 and google-cloud-storage, are optional installs).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from urllib.parse import urlparse

from optuna.artifacts import FileSystemArtifactStore

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


def check_location(location: str) -> None:
    """Refuse a location no store can be opened at, touching nothing (no directory is made, no
    client connects): workers check theirs before the first trial, not at its first upload."""
    if artifact_dir(location) is not None:
        return
    scheme = urlparse(location).scheme
    module = {"s3": "boto3", "gs": "google.cloud.storage", "gcs": "google.cloud.storage"}.get(
        scheme)
    if module is None:
        raise ArtifactStoreError(f"unknown artifact location scheme {scheme!r}; use a "
                                 "directory, file://DIR, s3://BUCKET or gs://BUCKET")
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ArtifactStoreError(f"artifact store {scheme}:// needs an extra package "
                                 f"({exc}); install it or use a directory") from None


def open_artifact_store(location: str, *, create: bool = True):
    """An Optuna artifact store for a resolved location (`study.defaults.artifacts`); with
    `create` False a missing directory is an error instead of being made."""
    check_location(location)
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
            raise ArtifactStoreError(f"artifact directory {directory} does not exist; pass "
                                     f"--artifacts DIR or set {ARTIFACTS_ENV}")
        return FileSystemArtifactStore(directory)
    parsed = urlparse(location)
    if parsed.scheme == "s3":
        from optuna.artifacts import Boto3ArtifactStore

        return Boto3ArtifactStore(parsed.netloc)
    from optuna.artifacts import GCSArtifactStore

    return GCSArtifactStore(parsed.netloc)
