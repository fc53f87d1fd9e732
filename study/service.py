"""Creating and opening studies: race-safe create, the λ = 0 baseline, the one study loader.

A study stores its experiment as one attribute (`experiment`) beside provenance (package versions,
host, feature cache key). The `ready` attribute is written last: a study without it is still being
created (or its creator died, and the next `create` finishes the job). Every command that reads a
study calls `open_study`, which also builds the study's pruner from its experiment.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import random
import re
import socket
import time
import warnings
from dataclasses import dataclass
from typing import Any

import optuna

import storage
from objectives import baseline_params
from storage import Heartbeat, is_creation_race
from study.errors import UserError
from study.experiment import Experiment, ExperimentFormatError, from_legacy_attrs
from study.search.pruner import build_pruner

READY_ATTR = "ready"
EXPERIMENT_ATTR = "experiment"
BASELINE_ATTR = "baseline"  # user attribute of the enqueued λ = 0 trial
ARTIFACTS_ATTR = "artifact_store"  # where `create` put the study's artifact store
# The answer's first lines, on the dashboard's study page. Set first at create, so that its row
# leads the page's user-attribute table (five rows a page) once the answer replaces it.
ANSWER_ATTR = "answer"
NO_ANSWER_YET = "Use: not decided yet — the replicate phase has not finished"
METRIC_NAME = "validation accuracy"  # what the dashboard calls the objective value
# Study names become directory names (models) and appear in HTML: a conservative alphabet.
STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@dataclass
class LoadedStudy:
    """A study with its experiment, as every command works on it."""

    study: optuna.Study
    experiment: Experiment
    url: str

    @property
    def name(self) -> str:
        return self.study.study_name


def check_study_name(name: str) -> None:
    """Study names may hold letters, digits, '.', '_' and '-' (at most 100, not first '.')."""
    if not STUDY_NAME.fullmatch(name):
        shown = name if len(name) <= 60 else name[:57] + "..."
        raise UserError(f"invalid study name {shown!r}: use 1 to 100 letters, digits, '.', '_' "
                        "or '-', starting with a letter or digit")


def name_on_disk(name: str) -> str:
    """A directory name for any study name (studies created before names were checked)."""
    if STUDY_NAME.fullmatch(name):
        return name
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:60] or "study"
    return f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"


def open_study_storage(url: str, *, heartbeat: Heartbeat | None = None, create: bool = True):
    """The storage at `url`, with the study's heartbeat settings (None: no heartbeats)."""
    if heartbeat is None:
        return storage.open_storage(url, create=create)
    return storage.open_storage(url, create=create, heartbeat_interval=heartbeat.interval,
                                grace_period=heartbeat.grace, max_retry=heartbeat.max_retry)


def publish_answer(study: optuna.Study, line: str) -> None:
    """The answer's first lines (`reporting.answer_text.answer_attribute`) as the study's
    `answer` user attribute: optuna-dashboard shows user attributes on the study's own page, so
    the answer is there without opening the note."""
    study.set_user_attr(ANSWER_ATTR, line)


def unknown_study(storage: optuna.storages.BaseStorage, name: str, url: str) -> UserError:
    """The error for a missing study, listing the ones that exist."""
    from storage import redact_url

    names = sorted(s.study_name for s in storage.get_all_studies())
    existing = ", ".join(repr(n) for n in names) if names else "none"
    return UserError(f"no study {name!r} in {redact_url(url)} (studies there: {existing}); "
                     "create it with `python -m study create` or pass --study")


def package_versions() -> dict[str, str | None]:
    """Versions of the packages that decide results (read from metadata, nothing imported)."""
    versions: dict[str, str | None] = {}
    for name in ("optuna", "torch", "lightning", "librosa", "numpy", "optuna-dashboard"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def provenance(experiment: Experiment, feature_cache_key: str | None) -> dict[str, Any]:
    """What a reader needs besides the experiment to reproduce the study."""
    return {"feature_cache_key": feature_cache_key, "versions": package_versions(),
            "created_on": socket.gethostname(),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "sampler": {"name": "TPESampler", "multivariate": True, "constant_liar": True,
                        "seed": "per trial: derived from the experiment's seed and the trial "
                                "number"},
            "direction": "maximize", "objective_value": "best validation accuracy over epochs"}


def create(url: str, name: str, experiment: Experiment, *, feature_cache_key: str | None = None,
           artifact_store: str | None = None, attempts: int = 8) -> tuple[LoadedStudy, bool]:
    """Create the study, or open it if it exists; safe when many processes do this at once.

    `artifact_store` (a resolved location) is recorded with a new study, so commands on another
    host that mounts the same directory, or any host for an s3:// store, need no setting.
    Returns the study and whether this call created it.
    """
    check_study_name(name)
    for attempt in range(attempts):
        storage = open_study_storage(url)
        try:
            storage.create_new_study([optuna.study.StudyDirection.MAXIMIZE], name)
        except optuna.exceptions.DuplicatedStudyError:
            study = optuna.Study(name, storage)
            attrs = wait_ready(study)
            if not attrs.get(READY_ATTR):  # its creator died before finishing: finish it
                _finish_setup(study, experiment, feature_cache_key, artifact_store)
            return LoadedStudy(study, read_experiment(study.user_attrs), url), False
        except Exception as exc:  # a concurrent create won the race on tables or the study row
            if attempt + 1 == attempts or not is_creation_race(exc):
                raise
            time.sleep(0.1 + random.random() * 0.4)
            continue
        study = optuna.Study(name, storage)
        _finish_setup(study, experiment, feature_cache_key, artifact_store)
        return LoadedStudy(study, experiment, url), True
    raise AssertionError("unreachable")


def name_metric(study: optuna.Study) -> None:
    """The dashboard calls the value "validation accuracy", not "Objective 0"."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([METRIC_NAME])


def _finish_setup(study: optuna.Study, experiment: Experiment,
                  feature_cache_key: str | None, artifact_store: str | None) -> None:
    name_metric(study)
    if ANSWER_ATTR not in study.user_attrs:
        study.set_user_attr(ANSWER_ATTR, NO_ANSWER_YET)
    study.set_user_attr(EXPERIMENT_ATTR, experiment.as_dict())
    if artifact_store:
        study.set_user_attr(ARTIFACTS_ATTR, artifact_store)
    for key, value in provenance(experiment, feature_cache_key).items():
        study.set_user_attr(key, value)
    baseline = baseline_params(experiment.search)
    if not _has_baseline(study, baseline):
        study.enqueue_trial(baseline, user_attrs={BASELINE_ATTR: True})
    study.set_user_attr(READY_ATTR, True)


def _has_baseline(study: optuna.Study, baseline: dict[str, Any]) -> bool:
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get(BASELINE_ATTR) or trial.params == baseline \
                or trial.system_attrs.get("fixed_params") == baseline:
            return True
    return False


def recorded_artifacts(study: optuna.Study) -> str | None:
    """The artifact store the study was created with (None: created before it was recorded)."""
    value = study.user_attrs.get(ARTIFACTS_ATTR)
    return value if isinstance(value, str) and value else None


def wait_ready(study: optuna.Study, timeout: float = 20.0) -> dict[str, Any]:
    """The study's attributes once its creator has marked it ready (or after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        attrs = study.user_attrs
        if attrs.get(READY_ATTR) or time.monotonic() > deadline:
            return attrs
        time.sleep(0.2)


def read_experiment(attrs: dict[str, Any]) -> Experiment:
    """The stored experiment (or one rebuilt from a study created before it was stored)."""
    if EXPERIMENT_ATTR not in attrs:
        return from_legacy_attrs(attrs)
    try:
        return Experiment.from_dict(attrs[EXPERIMENT_ATTR])
    except ExperimentFormatError as exc:
        raise UserError(str(exc)) from None


def open_study(url: str, name: str, *, heartbeat: Heartbeat | None = None,
               create_storage: bool = False) -> LoadedStudy:
    """The one way every command opens an existing study: its experiment and stored pruner.

    Read-only callers leave `create_storage` False, so a mistyped SQLite path creates no file.
    """
    storage = open_study_storage(url, heartbeat=heartbeat, create=create_storage)
    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        raise unknown_study(storage, name, url) from None
    study = optuna.Study(name, storage)
    experiment = read_experiment(wait_ready(study))
    study.pruner = build_pruner(experiment.pruner)
    return LoadedStudy(study, experiment, url)


def save_budget(loaded: LoadedStudy, n_trials: int) -> LoadedStudy:
    """Extend (or shrink) the study's budget, for every worker from now on."""
    return _store(loaded, loaded.experiment.with_budget(n_trials))


def save_replicates(loaded: LoadedStudy, *, seeds: int,
                    lambdas: tuple[float, ...] = ()) -> LoadedStudy:
    """Raise the replicate phase to `seeds` per arm with `lambdas` added, for every worker from
    now on (a worker on another host reads it too); never fewer seeds or arms than stored."""
    stored = loaded.experiment.replicates
    merged = tuple(stored.lambdas) + tuple(v for v in lambdas if v not in stored.lambdas)
    settings = dataclasses.replace(stored, seeds=max(seeds, stored.seeds), lambdas=merged)
    if settings == stored:
        return loaded
    return _store(loaded, dataclasses.replace(loaded.experiment, replicates=settings))


def _store(loaded: LoadedStudy, experiment: Experiment) -> LoadedStudy:
    loaded.study.set_user_attr(EXPERIMENT_ATTR, experiment.as_dict())
    return dataclasses.replace(loaded, experiment=experiment)
