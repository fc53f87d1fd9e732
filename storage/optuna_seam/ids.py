"""The ids and the storage behind a Study.

A Study hides its storage and study id, a trial its storage id; the storage API (counts, system
attributes, state changes) is keyed by them.
"""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState


def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage a Study talks to (for an RDBStorage: Optuna's caching wrapper around it)."""
    return study._storage


def backend_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage without Optuna's cache: reads that must see the database as it is now."""
    storage = study._storage
    return getattr(storage, "_backend", storage)


def study_id(study: optuna.Study) -> int:
    return study._study_id


def trial_id(trial: FrozenTrial | optuna.Trial) -> int:
    return trial._trial_id


def count_trials(study: optuna.Study, states: tuple[TrialState, ...]) -> int:
    """Trials of the study in `states`, counted by the database (no trial is loaded)."""
    return study._storage.get_n_trials(study._study_id, state=states)
