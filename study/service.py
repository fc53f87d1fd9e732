"""Creating and loading the study: race-safe create, the baseline, the attributes that describe it.

Optuna stores neither sampler nor pruner, so their settings are study attributes and every worker
rebuilds the same ones from them. The `ready` attribute is written last: a study without it is
still being created (or its creator died, and the next `create` finishes the job).
"""

from __future__ import annotations

import importlib.metadata
import random
import socket
import time
import warnings
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from storage.rdb import HEARTBEAT_INTERVAL_S
from study.options import Settings, UserError

PRUNERS = ("median", "hyperband", "none")
READY_ATTR = "ready"
BASELINE_ATTR = "baseline"  # user attribute of the enqueued λ = 0 trial
# Errors of two processes creating the same tables or study at once; worth a retry.
_RACE_MARKERS = ("already exists", "duplicate key", "unique constraint", "integrityerror",
                 "database is locked", "deadlock")


@dataclass
class CreateResult:
    study: optuna.Study
    created: bool  # this call created the study
    attrs: dict[str, Any]


def open_storage(url: str, *, heartbeat_interval: int | None = HEARTBEAT_INTERVAL_S,
                 grace_period: int | None = None, attempts: int = 5):
    """`storage.open_storage`, retried when another process is creating the tables right now."""
    from storage import StorageError
    from storage import open_storage as _open

    for attempt in range(attempts):
        try:
            return _open(url, heartbeat_interval=heartbeat_interval, grace_period=grace_period)
        except StorageError as exc:
            if attempt + 1 == attempts or not _is_race(exc):
                raise
            time.sleep(0.1 + random.random() * 0.4)
    raise AssertionError("unreachable")


def _is_race(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc} {exc.__cause__ or ''}".lower()
    return any(marker in text for marker in _RACE_MARKERS)


def study_names(storage: optuna.storages.BaseStorage) -> list[str]:
    return sorted(s.study_name for s in storage.get_all_studies())


def unknown_study(storage: optuna.storages.BaseStorage, name: str, url: str) -> UserError:
    """The error for a missing study, listing the ones that exist."""
    from storage import redact_url

    names = study_names(storage)
    existing = ", ".join(repr(n) for n in names) if names else "none"
    return UserError(f"no study {name!r} in {redact_url(url)} (studies there: {existing}); "
                     "create it with `python -m study create` or pass --study")


def build_pruner(spec: dict[str, Any]) -> optuna.pruners.BasePruner:
    """The pruner described by a stored spec (see `pruner_spec`)."""
    name = spec.get("name")
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=spec["n_startup_trials"],
                                           n_warmup_steps=spec["n_warmup_steps"])
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=spec["min_resource"],
                                              max_resource=spec["max_resource"],
                                              reduction_factor=spec["reduction_factor"])
    if name == "none":
        return optuna.pruners.NopPruner()
    raise UserError(f"unknown pruner {name!r}: choose one of {', '.join(PRUNERS)}")


def pruner_spec(name: str, max_epochs: int = 12) -> dict[str, Any]:
    """Settings of the named pruner for trials of up to `max_epochs` epochs, stored with the study."""
    if name == "median":
        # No pruning in the first tenth of the epochs (at least one): the first accuracies of
        # every configuration look alike, so their median is noise. Measured on the quick
        # profile (12 epochs, so 1 warm-up epoch) in BENCHMARKS.md section 3.
        return {"name": "median", "n_startup_trials": 5,
                "n_warmup_steps": max(1, round(max_epochs / 10))}
    if name == "hyperband":
        return {"name": "hyperband", "min_resource": 1, "max_resource": "auto",
                "reduction_factor": 3}
    if name == "none":
        return {"name": "none"}
    raise UserError(f"unknown pruner {name!r}: choose one of {', '.join(PRUNERS)}")


def build_sampler(seed: int | None) -> optuna.samplers.TPESampler:
    """TPE as Optuna 5 defaults it (multivariate, constant liar), seeded per worker."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)


def package_versions() -> dict[str, str | None]:
    """Versions of the packages that decide results (read from metadata, nothing imported)."""
    versions: dict[str, str | None] = {}
    for name in ("optuna", "torch", "lightning", "librosa", "numpy", "optuna-dashboard"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def feature_cache_key(settings: Settings, profile: Any) -> str | None:
    """The feature cache key of the study's data and profile (cheap: no audio is decoded).

    Raises the data layer's DataSourceError for a source that cannot be read.
    """
    try:
        from objectives.data import cache_key, parse_source
    except ImportError:
        # HOOK: the data layer (objectives.data) is not installed; no key recorded.
        return None
    source = parse_source(settings.data, cache_dir=settings.cache_dir, split=settings.split,
                          seed=settings.seed)
    return cache_key(source, profile.features)


def describe(settings: Settings, *, pruner: str, n_trials: int | None) -> dict[str, Any]:
    """The study attributes a reader needs to reproduce the study."""
    profile = settings.profile_settings()
    attrs = settings.stored()
    attrs.update({
        "profile_settings": profile.as_dict(),
        "search_space": profile.search.as_dict(),
        "feature_cache_key": feature_cache_key(settings, profile),
        "pruner": pruner_spec(pruner, settings.max_epochs or profile.train.max_epochs),
        "sampler": {"name": "TPESampler", "multivariate": True, "constant_liar": True,
                    "seed": "per worker: derived from the base seed, host and process"},
        "direction": "maximize",
        "objective_value": "best validation accuracy over epochs",
        "versions": package_versions(),
        "created_on": socket.gethostname(),
    })
    if n_trials is not None:
        attrs["n_trials"] = n_trials
    return attrs


def create(settings: Settings, *, pruner: str, n_trials: int | None,
           attempts: int = 8) -> CreateResult:
    """Create the study, or load it if it exists; safe when many processes do this at once."""
    from objectives.search_space import baseline_params

    attrs = describe(settings, pruner=pruner, n_trials=n_trials)
    for attempt in range(attempts):
        storage = open_storage(settings.storage_url)
        try:
            study_id = storage.create_new_study([optuna.study.StudyDirection.MAXIMIZE],
                                                settings.study_name)
        except optuna.exceptions.DuplicatedStudyError:
            return _existing(storage, settings, attrs)
        except Exception as exc:  # a concurrent create won the race on tables or the study row
            if attempt + 1 == attempts or not _is_race(exc):
                raise
            time.sleep(0.1 + random.random() * 0.4)
            continue
        study = optuna.Study(settings.study_name, storage)
        assert study._study_id == study_id
        _finish_setup(study, attrs, baseline_params(settings.profile_settings().search))
        return CreateResult(study, True, attrs)
    raise AssertionError("unreachable")


def _finish_setup(study: optuna.Study, attrs: dict[str, Any], baseline: dict[str, Any]) -> None:
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    if not _has_baseline(study, baseline):
        study.enqueue_trial(baseline, user_attrs={BASELINE_ATTR: True})
    study.set_user_attr(READY_ATTR, True)


def _has_baseline(study: optuna.Study, baseline: dict[str, Any]) -> bool:
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get(BASELINE_ATTR) or trial.params == baseline \
                or trial.system_attrs.get("fixed_params") == baseline:
            return True
    return False


def _existing(storage: optuna.storages.BaseStorage, settings: Settings,
              attrs: dict[str, Any]) -> CreateResult:
    """Load an existing study; finish its setup if its creator died before marking it ready."""
    from objectives.search_space import baseline_params

    study = optuna.Study(settings.study_name, storage)
    stored = wait_ready(study)
    if not stored.get(READY_ATTR):
        _finish_setup(study, attrs, baseline_params(settings.profile_settings().search))
        stored = study.user_attrs
    return CreateResult(study, False, stored)


def wait_ready(study: optuna.Study, timeout: float = 20.0) -> dict[str, Any]:
    """The study's attributes once its creator has marked it ready (or after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        attrs = study.user_attrs
        if attrs.get(READY_ATTR) or time.monotonic() > deadline:
            return attrs
        time.sleep(0.2)


def load(url: str, name: str, *, heartbeat_interval: int | None = HEARTBEAT_INTERVAL_S,
         grace_period: int | None = None) -> optuna.Study:
    """An existing study (with the stored pruner), or a UserError listing the studies there."""
    storage = open_storage(url, heartbeat_interval=heartbeat_interval, grace_period=grace_period)
    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        raise unknown_study(storage, name, url) from None
    study = optuna.Study(name, storage)
    attrs = wait_ready(study)
    if "pruner" in attrs:
        study.pruner = build_pruner(attrs["pruner"])
    return study


def finished_states() -> tuple[TrialState, ...]:
    return (TrialState.COMPLETE, TrialState.PRUNED)
