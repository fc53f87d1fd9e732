"""Contract test of `storage.optuna_seam.ids` (the ids and the storage behind a Study) against the installed
versions: an upgrade that changes what the project relies on fails here first."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from storage import optuna_seam as seam
from tests.storage.optuna_seam.studies import make_study

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def test_ids_and_storages_are_the_ones_optuna_uses(storage_url: str) -> None:
    study = make_study(storage_url, heartbeat_interval=None)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    backend = seam.backend_of(study)
    assert isinstance(backend, optuna.storages.RDBStorage)
    assert seam.storage_of(study) is study._storage  # what Study's own methods use
    assert seam.study_id(study) == backend.get_study_id_from_name("s")
    frozen = study.trials[1]
    assert seam.trial_id(frozen) == backend.get_trial_id_from_study_id_trial_number(
        seam.study_id(study), 1)
    assert seam.count_trials(study, (TrialState.COMPLETE,)) == 2
    assert seam.count_trials(study, (TrialState.RUNNING,)) == 0
