"""Where a study stands: trials by state, the best so far, workers alive, the replicate phase's
progress, and whether both phases are finished (`status`, `run`'s summary, its exit code)."""

from __future__ import annotations

import datetime
import math
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from objectives import effective_lambda
from storage import stale_trial_ids, trial_id
from study import service
from study.replicates.plan import companion_name, open_companion
from study.replicates.runs import replicate_counts
from study.trials import best_trial, count_states, n_finished


def trial_summary(trial: FrozenTrial, bounds=None) -> dict[str, Any]:
    """The fields of a finished trial a user looks at first."""
    return {"number": trial.number, "value": trial.value, "params": dict(trial.params),
            "lambda": effective_lambda(trial, bounds),
            "test_accuracy": trial.user_attrs.get("test_accuracy"),
            "epochs": trial.user_attrs.get("epochs"),
            "model_path": trial.user_attrs.get("model_path")}


def live_workers(study: optuna.Study, trials: list[FrozenTrial]) -> dict[str, Any]:
    """RUNNING trials whose heartbeat is fresh, and the distinct workers running them."""
    running = [t for t in trials if t.state == TrialState.RUNNING]
    stale = stale_trial_ids(study)
    fresh = [t for t in running if trial_id(t) not in stale]
    workers = sorted({str(t.user_attrs.get("worker", f"trial {t.number}")) for t in fresh})
    return {"running_trials": len(running), "stale_running_trials": len(running) - len(fresh),
            "workers_alive": len(workers), "workers": workers}


def phase_seconds(trials: list[FrozenTrial]) -> float | None:
    """Wall time from the first trial's start to the last one's end."""
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    if not starts or not ends:
        return None
    return (max(ends) - min(starts)).total_seconds()


def status(loaded: service.LoadedStudy) -> dict[str, Any]:
    """Everything `status` shows."""
    study, experiment = loaded.study, loaded.experiment
    trials = study.get_trials(deepcopy=False)
    counts = count_states(trials)
    best = best_trial(study)
    companion = open_companion(study, create=False)
    done, planned = replicate_counts(companion)
    rep_trials = companion.get_trials(deepcopy=False) if companion is not None else []
    return {"study": study.study_name, "budget": experiment.n_trials,
            "finished": counts["COMPLETE"] + counts["PRUNED"], "trials_by_state": counts,
            "best": trial_summary(best, experiment.search) if best else None,
            **live_workers(study, trials),
            "replicates": {"study": companion_name(study.study_name),
                           "seeds_per_arm": experiment.replicates.seeds, "finished": done,
                           "planned": planned, "trials_by_state": count_states(rep_trials),
                           **({"workers": live_workers(companion, rep_trials)["workers"]}
                              if companion is not None else {})},
            "data": experiment.data, "profile": experiment.profile.name,
            "objective": experiment.objective, "pruner": experiment.pruner.get("name"),
            "checked_at": datetime.datetime.now().isoformat(timespec="seconds")}


def finished(loaded: service.LoadedStudy) -> bool:
    """The search budget is finished and every planned replicate too."""
    budget = loaded.experiment.n_trials
    if budget is None or n_finished(loaded.study) < budget:
        return False
    if loaded.experiment.replicates.seeds == 0:
        return True
    done, planned = replicate_counts(open_companion(loaded.study, create=False))
    return planned > 0 and done >= planned


def brief(value: Any) -> str:
    """A value as status lines show it: 4 significant digits, `k=v` pairs, `-` for none."""
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={brief(v)}" for k, v in value.items())
    return "-" if value is None else str(value)
