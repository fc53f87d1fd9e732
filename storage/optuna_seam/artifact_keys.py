"""Artifacts: the system-attribute keys of Optuna and optuna-dashboard.

Optuna lists no artifacts of a study or trial; it records each as a system attribute
"artifacts:<id>". A finished trial's attributes are read-only, so its artifacts are registered
where optuna-dashboard also looks: the study system attribute
"dashboard:artifacts:<trial_id>:<id>".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.trial import FrozenTrial

_ARTIFACT_PREFIX = "artifacts:"
_DASHBOARD_TRIAL_PREFIX = "dashboard:artifacts:"


def _artifact_ids(system_attrs: Mapping[str, object]) -> dict[str, str]:
    """filename → artifact id; entries the dashboard deleted (stored as JSON null) are skipped."""
    found = {}
    for key, raw in system_attrs.items():
        if not key.startswith(_ARTIFACT_PREFIX) or not isinstance(raw, str):
            continue
        meta = json.loads(raw)
        if isinstance(meta, dict) and "filename" in meta:
            found[meta["filename"]] = meta["artifact_id"]
    return found


def study_artifacts(study: optuna.Study) -> dict[str, str]:
    return _artifact_ids(study._storage.get_study_system_attrs(study._study_id))


def trial_artifacts(study: optuna.Study, trial: FrozenTrial) -> dict[str, str]:
    study_attrs = study._storage.get_study_system_attrs(study._study_id)
    prefix = f"{_DASHBOARD_TRIAL_PREFIX}{trial._trial_id}:"
    found = _artifact_ids({_ARTIFACT_PREFIX + key[len(prefix):]: value
                           for key, value in study_attrs.items() if key.startswith(prefix)})
    found.update(_artifact_ids(study._storage.get_trial_system_attrs(trial._trial_id)))
    return found


def register_finished_trial_artifact(study: optuna.Study, trial: FrozenTrial,
                                     meta: Mapping[str, Any]) -> None:
    """Record an artifact (already written to the store) of a finished trial for the dashboard."""
    study._storage.set_study_system_attr(
        study._study_id, f"{_DASHBOARD_TRIAL_PREFIX}{trial._trial_id}:{meta['artifact_id']}",
        json.dumps(dict(meta)))
