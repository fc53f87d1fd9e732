"""A trial's model in the study's artifact store: uploaded with its digest, the best k kept,
fetched into this host's model cache and verified there.

Search trials: when the objective returns, while the trial is still RUNNING, its checkpoint (its
`model_path` user attribute) is uploaded with Optuna's `upload_artifact` if it ranks among the
study's best `defaults.MODELS_KEPT` (ties: the first trial, as `study.trials.best_of`) and
recorded as the user attribute `model_artifact` {"id", "sha256", "bytes", "store"}; the model
that drops out of the top k is removed. Replicate runs: the first run of an arm to finish keeps
its model; `keep_models` then keeps only those the caller names (the replicate winner's).

The study attribute `models_kept` lists what is in the store and changes only under the study
lock, so workers on every host agree on it without listing the store. Uploads happen under that
lock too: only a trial entering the top k uploads (about k·ln(N/k) of N), and ranking, upload and
eviction in one step leave exactly k models however many workers finish at once.

This host's cache `MODEL_DIR/STUDY/trial_NNNNN.pt` is where trials write models and export
fetches them to; a model not kept leaves it at once, and each keep step deletes the cached models
of finished trials the store no longer holds.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import upload_artifact
from optuna.artifacts.exceptions import ArtifactNotFound
from optuna.trial import FrozenTrial, TrialState

from storage import backend_of, one_line, study_lock, trial_id
from study import defaults
from study.artifact_store import ArtifactStoreError, check_location, open_artifact_store
from study.service import name_on_disk, recorded_artifacts

MODEL_ATTR = "model_artifact"  # trial user attribute: {"id", "sha256", "bytes", "store"}
KEPT_ATTR = "models_kept"  # study user attribute: the models in the store (`Kept` entries)
_CACHED = re.compile(r"trial_(\d+)\.pt")


class ModelError(Exception):
    """A model that cannot be uploaded, found or trusted: one line naming the trial and store."""


@dataclass(frozen=True)
class Kept:
    """One model in the store, as the study's `models_kept` lists it."""

    trial: int  # trial number
    trial_id: int  # storage id: its state is read without loading the study's trials
    value: float  # the objective's value (a replicate run's validation accuracy)
    artifact_id: str
    store: str  # where it was uploaded
    arm: str | None = None  # replicates: "PLAN:ARM", one model each


def kept_models(study: optuna.Study) -> list[Kept]:
    """The models the study's artifact store holds, as recorded with the study."""
    return [Kept(**entry) for entry in study.user_attrs.get(KEPT_ATTR) or []]


def _save_kept(study: optuna.Study, kept: Iterable[Kept]) -> None:
    study.set_user_attr(KEPT_ATTR, [asdict(entry) for entry in kept])


def cache_path(model_dir: Path, study_name: str, number: int) -> Path:
    """Where trial `number`'s model lives on this host (`ObjectiveContext.model_path`)."""
    return Path(model_dir) / name_on_disk(study_name) / f"trial_{number:05d}.pt"


def file_digest(path: Path) -> tuple[int, str]:
    """(bytes, sha256 hex) of a file."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


class _Recording:
    """Remembers the id `upload_artifact` made up, so a failed upload can be removed."""

    def __init__(self, store: Any) -> None:
        self.store, self.written = store, None

    def write(self, artifact_id: str, body: Any) -> None:
        self.written = artifact_id
        self.store.write(artifact_id, body)


class TrialModels:
    """One worker's side: trials' models into the store and out of this host's cache."""

    def __init__(self, model_dir: Path, location: str, *,
                 kept: int = defaults.MODELS_KEPT) -> None:
        self.model_dir, self.location, self.kept = Path(model_dir), location, kept
        self._store: Any = None

    @classmethod
    def for_study(cls, study: optuna.Study, model_dir: Path, flag: str | None) -> TrialModels:
        """`--artifacts`, else STUDY_ARTIFACTS, else the study's own store, else the default;
        a location no store can be opened at is refused now, before any trial trains."""
        location = defaults.artifacts(flag, recorded=recorded_artifacts(study))
        check_location(location)
        return cls(model_dir, location)

    @property
    def store(self) -> Any:
        """Opened on first use: a study whose objective saves no model touches no store."""
        self._store = self._store or open_artifact_store(self.location)
        return self._store

    # --- search trials ---------------------------------------------------------------------

    def search_trial(self, trial: optuna.Trial, objective: Callable[[optuna.Trial], Any]) -> Any:
        """Run the objective; keep the trial's model if it ranks among the best k."""
        try:
            value = objective(trial)
            path = trial.user_attrs.get("model_path")
            if path and Path(path).is_file() and _finite(value):
                self._keep_best(trial, Path(path), float(value))
            else:
                self._drop(trial.study.study_name, trial.number)
        except BaseException:
            self._drop(trial.study.study_name, trial.number)  # pruned or failed: no model kept
            raise
        return value

    def _keep_best(self, trial: optuna.Trial, path: Path, value: float) -> None:
        study = trial.study
        with study_lock(study):
            kept = self._without_failed(study, kept_models(study))
            mine = Kept(trial.number, trial_id(trial), value, "", self.location)
            ranked = sorted([*kept, mine], key=lambda entry: (-entry.value, entry.trial))
            keep, out = ranked[:self.kept], ranked[self.kept:]
            if mine in keep:
                keep[keep.index(mine)] = self._upload(trial, path, value)
            for entry in out:
                if entry is not mine:
                    self._remove(study.study_name, entry)
            _save_kept(study, keep)
            self._sweep_cache(study, keep)
        if mine in out:
            self._drop(study.study_name, trial.number)

    # --- replicate runs --------------------------------------------------------------------

    def replicate(self, trial: optuna.Trial, replicate: Callable[..., Any], params: Any,
                  seed: int) -> Any:
        """A replicate run that saves its model (if the objective takes `model_path`); the first
        run of each arm to finish keeps it."""
        if not _takes_model_path(replicate):
            return replicate(params, seed)
        name = trial.study.study_name
        path = cache_path(self.model_dir, name, trial.number)
        try:
            outcome = replicate(params, seed, model_path=path)
            if path.is_file():
                arm = f"{trial.user_attrs.get('plan')}:{trial.user_attrs.get('arm')}"
                self._keep_first_of_arm(trial, path, float(outcome.val_accuracy), arm)
        except BaseException:
            self._drop(name, trial.number)
            raise
        return outcome

    def _keep_first_of_arm(self, trial: optuna.Trial, path: Path, value: float,
                           arm: str) -> None:
        study = trial.study
        with study_lock(study):
            kept = self._without_failed(study, kept_models(study))
            taken = any(entry.arm == arm for entry in kept)
            if not taken:
                kept.append(self._upload(trial, path, value, arm=arm))
            _save_kept(study, kept)
            self._sweep_cache(study, kept)
        if taken:
            self._drop(study.study_name, trial.number)

    # --- keeping only some -----------------------------------------------------------------

    def keep_models(self, study: optuna.Study, keep_trial_numbers: Iterable[int]) -> list[Kept]:
        """Remove every model of `study` but those of `keep_trial_numbers`; what stays."""
        wanted = set(keep_trial_numbers)
        with study_lock(study):
            listed = kept_models(study)
            keep = [entry for entry in listed if entry.trial in wanted]
            for entry in listed:
                if entry.trial not in wanted:
                    self._remove(study.study_name, entry)
            for trial in study.get_trials(deepcopy=False):
                record = trial.user_attrs.get(MODEL_ATTR)
                if trial.number not in wanted and isinstance(record, dict) and \
                        trial.state != TrialState.RUNNING and \
                        all(entry.artifact_id != record.get("id") for entry in listed):
                    self._remove_id(study.study_name, trial.number, str(record.get("id")))
            _save_kept(study, keep)
            self._sweep_cache(study, keep)
        return keep

    # --- the store and the cache -----------------------------------------------------------

    def _upload(self, trial: optuna.Trial, path: Path, value: float,
                arm: str | None = None) -> Kept:
        size, digest = file_digest(path)
        recording = _Recording(self.store)
        try:
            artifact_id = upload_artifact(artifact_store=recording, file_path=str(path),
                                          study_or_trial=trial)
        except Exception as exc:
            if recording.written:
                self._remove_id(trial.study.study_name, trial.number, recording.written,
                                quiet=True)
            raise ModelError(f"cannot upload the model of trial {trial.number} of study "
                             f"{trial.study.study_name!r} to the artifact store "
                             f"{self.location}: {one_line(exc)}") from exc
        trial.set_user_attr(MODEL_ATTR, {"id": artifact_id, "sha256": digest, "bytes": size,
                                         "store": self.location})
        return Kept(trial.number, trial_id(trial), value, artifact_id, self.location, arm)

    def _remove(self, study_name: str, entry: Kept) -> None:
        self._remove_id(study_name, entry.trial, entry.artifact_id)
        self._drop(study_name, entry.trial)

    def _remove_id(self, study_name: str, number: int, artifact_id: str, *,
                   quiet: bool = False) -> None:
        try:
            self.store.remove(artifact_id)
        except ArtifactNotFound:
            pass  # removed already (by hand, or by a worker that died before saying so)
        except Exception as exc:  # noqa: BLE001 - a model left behind must not fail the trial
            if not quiet:
                print(f"warning: could not remove the model of trial {number} of study "
                      f"{study_name!r} ({artifact_id}) from the artifact store {self.location}: "
                      f"{one_line(exc)}; delete it by hand", file=sys.stderr, flush=True)

    def _drop(self, study_name: str, number: int) -> None:
        """Delete trial `number`'s model from this host's cache, if there."""
        cache_path(self.model_dir, study_name, number).unlink(missing_ok=True)

    def _sweep_cache(self, study: optuna.Study, kept: Sequence[Kept]) -> None:
        """Cached models of finished trials that the store no longer keeps (trained here, or
        fetched here, before another host's trial took their place)."""
        directory = self.model_dir / name_on_disk(study.study_name)
        if not directory.is_dir():
            return
        keep = {entry.trial for entry in kept}
        keep |= {t.number for t in study.get_trials(
            deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))}
        for path in directory.iterdir():
            match = _CACHED.fullmatch(path.name)
            if match and int(match.group(1)) not in keep:
                path.unlink(missing_ok=True)

    def _without_failed(self, study: optuna.Study, kept: list[Kept]) -> list[Kept]:
        """A trial that failed after its model was kept (its tell never landed, or another
        worker took it over) gives its place, and its model goes."""
        backend, live = backend_of(study), []
        for entry in kept:
            if backend.get_trial(entry.trial_id).state == TrialState.FAIL:
                self._remove(study.study_name, entry)
            else:
                live.append(entry)
        return live


def keep_models(study: optuna.Study, keep_trial_numbers: Iterable[int], *,
                location: str | None = None, model_dir: Path | None = None) -> list[Kept]:
    """Remove every model artifact of `study` except those of `keep_trial_numbers` (e.g. the
    replicate winner), from the store and this host's cache; what stays. The store by default:
    STUDY_ARTIFACTS, else the one the models went to; the cache: STUDY_MODEL_DIR's."""
    recorded = recorded_artifacts(study) or next((k.store for k in kept_models(study)), None)
    where = location or defaults.artifacts(None, recorded=recorded)
    return TrialModels(model_dir or defaults.model_dir(), where).keep_models(
        study, keep_trial_numbers)


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _takes_model_path(replicate: Callable[..., Any]) -> bool:
    """Objectives written before `replicate(params, seed, model_path=None)` are called without."""
    try:
        parameters = inspect.signature(replicate).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "model_path" or p.kind == p.VAR_KEYWORD for p in parameters)


# --- fetching: export and evaluate, on any host -------------------------------------------


@dataclass(frozen=True)
class FetchedModel:
    """A model in this host's cache, checked against the size and digest recorded with it."""

    path: Path
    artifact_id: str
    sha256: str
    bytes: int
    store: str

    def as_dict(self) -> dict[str, Any]:
        return {"artifact_id": self.artifact_id, "sha256": self.sha256, "bytes": self.bytes,
                "store": self.store, "path": str(self.path)}


def uploaded_to(trial: FrozenTrial) -> str | None:
    """The store the trial's model was uploaded to (None: it has none there)."""
    record = trial.user_attrs.get(MODEL_ATTR)
    return str(record["store"]) if isinstance(record, dict) and record.get("store") else None


def fetch_model(study: optuna.Study, trial: FrozenTrial, *, model_dir: Path,
                location: str) -> FetchedModel | None:
    """The trial's model in this host's cache, fetched from the store at `location` unless an
    intact copy is there; None when the trial has none in a store (an objective that saves no
    model, a study older than models in the store). ModelError when it is missing, corrupt or
    the store cannot be read."""
    record = trial.user_attrs.get(MODEL_ATTR)
    if not isinstance(record, dict):
        return None
    fetched = FetchedModel(cache_path(model_dir, study.study_name, trial.number),
                           str(record["id"]), str(record["sha256"]), int(record["bytes"]),
                           location)
    path, who = fetched.path, f"trial {trial.number} of study {study.study_name!r}"
    if path.is_file() and file_digest(path) == (fetched.bytes, fetched.sha256):
        return fetched
    try:
        store = open_artifact_store(location, create=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except ArtifactStoreError as exc:
        raise ModelError(f"cannot fetch the model of {who}: {exc}") from None
    except OSError as exc:
        raise ModelError(f"cannot fetch the model of {who} into this host's model cache "
                         f"{path.parent}: {exc.strerror}; pass a writable --model-dir") from None
    try:
        with os.fdopen(handle, "wb") as out:
            got = _copy_from(store, fetched, out, study, trial, who)
        if got != (fetched.bytes, fetched.sha256):
            raise ModelError(
                f"the model of {who} in the artifact store {location} is corrupt: "
                f"{got[0]} bytes, sha256 {got[1][:16]}…, where {fetched.bytes} bytes, sha256 "
                f"{fetched.sha256[:16]}… were uploaded ({fetched.artifact_id})")
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return fetched


def _copy_from(store: Any, fetched: FetchedModel, out: Any, study: optuna.Study,
               trial: FrozenTrial, who: str) -> tuple[int, str]:
    """Copy the artifact into `out`; (bytes, sha256) of what came."""
    unreadable = f"cannot read the model of {who} from the artifact store {fetched.store}"
    digest, size = hashlib.sha256(), 0
    try:
        reader = store.open_reader(fetched.artifact_id)
    except ArtifactNotFound:
        if trial.number not in {entry.trial for entry in kept_models(study)}:
            raise ModelError(f"the model of {who} is no longer in the artifact store "
                             f"{fetched.store}: only the best {defaults.MODELS_KEPT} search "
                             "trials' models (and the replicate winner's) are kept") from None
        raise ModelError(f"the model of {who} ({fetched.artifact_id}) is missing from the "
                         f"artifact store {fetched.store}: deleted by hand, or not the store its "
                         f"workers used (pass --artifacts or set {defaults.ARTIFACTS_ENV})"
                         ) from None
    except Exception as exc:  # S3 and GCS clients raise their own types
        raise ModelError(f"{unreadable}: {one_line(exc)}") from exc
    with reader:
        while True:
            try:
                chunk = reader.read(1 << 20)
            except Exception as exc:  # as above
                raise ModelError(f"{unreadable}: {one_line(exc)}") from exc
            if not chunk:
                return size, digest.hexdigest()
            digest.update(chunk)
            size += len(chunk)
            try:
                out.write(chunk)
            except OSError as exc:
                raise ModelError(f"cannot write the model of {who} into this host's model "
                                 f"cache: {exc.strerror}; pass another --model-dir") from None
