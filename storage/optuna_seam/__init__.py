"""Everything that reaches past Optuna's (and optuna-dashboard's) public API, in one package.

One module per concept, each item saying why the public API is not enough; `tests/storage/
optuna_seam/` holds one contract test per item against the installed versions, so an upgrade that
breaks one fails there, first and nowhere else. Nothing else in the project names Optuna's
private attributes. Other packages reach these names through `storage`.
"""

from storage.optuna_seam.artifact_keys import (
    register_finished_trial_artifact,
    study_artifacts,
    trial_artifacts,
)
from storage.optuna_seam.gated import GatedStudy
from storage.optuna_seam.ids import backend_of, count_trials, storage_of, study_id, trial_id
from storage.optuna_seam.lock import study_lock
from storage.optuna_seam.removed_models import forget_trial_model
from storage.optuna_seam.resilient import ResilientRDBStorage
from storage.optuna_seam.retry import (
    RetryStaleTrialOnce,
    fail_and_requeue,
    fail_if_running,
    fail_stale,
    is_retry_of,
    retried_from,
)
from storage.optuna_seam.stale import adopt_unbeaten, running_with_heartbeat, stale_trial_ids
from storage.optuna_seam.tell import error_behind, tell_was_refused

__all__ = [
    "GatedStudy", "ResilientRDBStorage", "RetryStaleTrialOnce", "adopt_unbeaten", "backend_of",
    "count_trials",
    "error_behind", "fail_and_requeue", "fail_if_running", "fail_stale", "forget_trial_model",
    "is_retry_of",
    "register_finished_trial_artifact", "retried_from", "running_with_heartbeat",
    "stale_trial_ids", "storage_of", "study_artifacts", "study_id", "study_lock", "tell_was_refused",
    "trial_artifacts", "trial_id",
]
