"""What a study says: trial counts, best trial, the λ = 0 baseline, λ's importance, live workers."""

from __future__ import annotations

import datetime
import math
import warnings
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

MIN_TRIALS_FOR_IMPORTANCE = 3


def trial_summary(trial: FrozenTrial) -> dict[str, Any]:
    """The fields of a finished trial a user looks at first."""
    return {"number": trial.number, "value": trial.value, "params": dict(trial.params),
            "lambda": trial.user_attrs.get("lambda"),
            "test_accuracy": trial.user_attrs.get("test_accuracy"),
            "epochs": trial.user_attrs.get("epochs"),
            "model_path": trial.user_attrs.get("model_path")}


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    try:
        return study.best_trial
    except ValueError:  # no COMPLETE trial yet
        return None


def baseline(trials: list[FrozenTrial]) -> dict[str, Any] | None:
    """The best complete λ = 0 trial (the enqueued baseline and any searched λ = 0)."""
    zero = [t for t in trials if t.state == TrialState.COMPLETE and t.user_attrs.get("lambda") == 0]
    if not zero:
        return None
    best = max(zero, key=lambda t: t.value)
    return {**trial_summary(best), "n_trials": len(zero)}


def importance(study: optuna.Study, trials: list[FrozenTrial]) -> dict[str, Any]:
    """fANOVA importances (seeded) over COMPLETE trials and λ's rank; says what it rests on."""
    from study.analysis import param_importance

    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    result: dict[str, Any] = {"method": "fANOVA (seed 0)", "n_complete_trials": len(complete)}
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE:
        result["note"] = (f"not enough complete trials (need {MIN_TRIALS_FOR_IMPORTANCE}, "
                          f"have {len(complete)})")
        return result
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            computed = param_importance(study, "fanova", seed=0)
    except (ValueError, RuntimeError) as exc:
        result["note"] = f"could not compute importances: {exc}"
        return result
    result["importances"] = {name: round(v, 4) for name, v in computed.importances.items()}
    if computed.rank is not None:
        result["lambda_rank"] = computed.rank
        result["n_params"] = len(computed.importances)
    return result


def live_workers(study: optuna.Study, trials: list[FrozenTrial]) -> dict[str, Any]:
    """RUNNING trials whose heartbeat is fresh, and the distinct workers running them."""
    running = [t for t in trials if t.state == TrialState.RUNNING]
    storage = study._storage
    stale: set[int] = set()
    if getattr(storage, "get_heartbeat_interval", lambda: None)() is not None:
        stale = set(storage._get_stale_trial_ids(study._study_id))
    fresh = [t for t in running if t._trial_id not in stale]
    workers = sorted({str(t.user_attrs.get("worker", f"trial {t.number}")) for t in fresh})
    return {"running_trials": len(running), "stale_running_trials": len(running) - len(fresh),
            "workers_alive": len(workers), "workers": workers}


def status(study: optuna.Study) -> dict[str, Any]:
    """Everything `python -m study status` shows."""
    trials = study.get_trials(deepcopy=False)
    counts = {state.name: 0 for state in TrialState}
    for trial in trials:
        counts[trial.state.name] += 1
    best = best_trial(study)
    attrs = study.user_attrs
    return {"study": study.study_name, "budget": attrs.get("n_trials"),
            "finished": counts["COMPLETE"] + counts["PRUNED"], "trials_by_state": counts,
            "best": trial_summary(best) if best else None, "baseline": baseline(trials),
            **live_workers(study, trials),
            "data": attrs.get("data"), "profile": attrs.get("profile"),
            "objective": attrs.get("objective"), "pruner": (attrs.get("pruner") or {}).get("name"),
            "checked_at": datetime.datetime.now().isoformat(timespec="seconds")}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    return "-" if value is None else str(value)


def status_table(info: dict[str, Any]) -> str:
    states = ", ".join(f"{k} {v}" for k, v in info["trials_by_state"].items() if v)
    lines = [(f"study         {info['study']} (data {info['data']}, profile {info['profile']}, "
              f"objective {info['objective']}, pruner {info['pruner']})"),
             f"trials        {states or 'none'}",
             f"finished      {info['finished']} / {_fmt(info['budget'])}",
             (f"workers alive {info['workers_alive']} ({info['running_trials']} running, "
              f"{info['stale_running_trials']} stale)")]
    for key, title in (("best", "best"), ("baseline", "λ = 0 best")):
        entry = info[key]
        if entry:
            lines.append(f"{title:<13} trial {entry['number']}: val {_fmt(entry['value'])}, test "
                         f"{_fmt(entry['test_accuracy'])}, λ {_fmt(entry['lambda'])}, "
                         f"{_fmt(entry['params'])}")
        else:
            lines.append(f"{title:<13} no complete trial yet")
    return "\n".join(lines)


def summary_text(study: optuna.Study, storage_label: str, budget: int | None) -> str:
    """The closing summary of `python -m study run`."""
    trials = study.get_trials(deepcopy=False)
    info = status(study)
    lines = [f"study {study.study_name}: {info['finished']} finished trials"
             + (f" of a budget of {budget}" if budget else "")
             + f" ({_fmt({k: v for k, v in info['trials_by_state'].items() if v})})"]
    best = info["best"]
    if best is None:
        lines.append("no complete trial yet: nothing to report")
    else:
        lines += [(f"best trial    {best['number']}: validation accuracy "
                   f"{_fmt(best['value'])}, test accuracy {_fmt(best['test_accuracy'])}"),
                  f"best params   λ = {_fmt(best['lambda'])}, {_fmt(best['params'])}"]
    base = info["baseline"]
    lines.append(f"λ = 0 best    trial {base['number']}: validation {_fmt(base['value'])}, test "
                 f"{_fmt(base['test_accuracy'])} ({base['n_trials']} λ = 0 trials)" if base
                 else "λ = 0 best    no complete λ = 0 trial")
    imp = importance(study, trials)
    if "importances" in imp:
        rank = imp.get("lambda_rank")
        lines.append(f"importance    λ ranks {rank} of {imp.get('n_params')} ({_fmt(imp['importances'])}; "
                     f"{imp['method']} over {imp['n_complete_trials']} complete trials)")
    else:
        lines.append(f"importance    {imp['note']}")
    lines += [(f"next          python -m study dashboard --storage {storage_label} --study "
               f"{study.study_name}   (or: optuna-dashboard {storage_label})"),
              (f"              python -m study report --storage {storage_label} --study "
               f"{study.study_name}"),
              (f"              python -m study.best export --storage {storage_label} "
               f"--study {study.study_name}")]
    return "\n".join(lines)
