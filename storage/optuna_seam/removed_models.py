"""A finished trial's record of a model that was removed from the artifact store.

Optuna makes a finished trial's attributes read-only, and neither it nor optuna-dashboard can
forget an artifact of one: the dashboard keeps listing it, and answers 500 (`ArtifactNotFound`)
for its link once the file is gone. The service removes models that fall out of the best k after
their trials finished, so it rewrites those trials' rows itself: the artifact's record (trial
system attribute "artifacts:<id>", or the dashboard's study attribute) is deleted and the user
attributes that named the model are replaced. RDB storages only: the service opens no other
(`storage.open_storage`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import optuna

from storage.optuna_seam.artifact_keys import _ARTIFACT_PREFIX, _DASHBOARD_TRIAL_PREFIX
from storage.optuna_seam.ids import backend_of


def forget_trial_model(study: optuna.Study, storage_id: int, artifact_id: str,
                       user_attrs: Mapping[str, Any], drop_user_attrs: tuple[str, ...] = ()
                       ) -> None:
    """Delete the artifact record `artifact_id` of trial `storage_id` (in any state), set
    `user_attrs` and delete `drop_user_attrs`, in one transaction."""
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    backend = backend_of(study)
    with _create_scoped_session(backend.scoped_session, True) as session:
        session.query(models.TrialSystemAttributeModel).filter_by(
            trial_id=storage_id, key=_ARTIFACT_PREFIX + artifact_id).delete()
        session.query(models.StudySystemAttributeModel).filter_by(
            study_id=study._study_id,
            key=f"{_DASHBOARD_TRIAL_PREFIX}{storage_id}:{artifact_id}").delete()
        user = models.TrialUserAttributeModel
        session.query(user).filter(user.trial_id == storage_id,
                                   user.key.in_([*user_attrs, *drop_user_attrs])).delete()
        session.add_all(user(trial_id=storage_id, key=key, value_json=json.dumps(value))
                        for key, value in user_attrs.items())
