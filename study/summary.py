"""What a study says: `status` (trials, workers alive, replicates) and the answer `run` ends with."""

from __future__ import annotations

import argparse
import datetime
import math
import warnings
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from objectives.search_space import effective_lambda
from storage.optuna_internals import stale_trial_ids, trial_id
from study import budget as budget_mod
from study import effects, replicates, service
from study.cli import Output, open_checked

MIN_TRIALS_FOR_IMPORTANCE = 3


def trial_summary(trial: FrozenTrial, bounds=None) -> dict[str, Any]:
    """The fields of a finished trial a user looks at first."""
    return {"number": trial.number, "value": trial.value, "params": dict(trial.params),
            "lambda": effective_lambda(trial, bounds),
            "test_accuracy": trial.user_attrs.get("test_accuracy"),
            "epochs": trial.user_attrs.get("epochs"),
            "model_path": trial.user_attrs.get("model_path")}


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best COMPLETE trial (ties: the first), the one the replicates and export name."""
    return replicates.best_of(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def live_workers(study: optuna.Study, trials: list[FrozenTrial]) -> dict[str, Any]:
    """RUNNING trials whose heartbeat is fresh, and the distinct workers running them."""
    running = [t for t in trials if t.state == TrialState.RUNNING]
    stale = stale_trial_ids(study)
    fresh = [t for t in running if trial_id(t) not in stale]
    workers = sorted({str(t.user_attrs.get("worker", f"trial {t.number}")) for t in fresh})
    return {"running_trials": len(running), "stale_running_trials": len(running) - len(fresh),
            "workers_alive": len(workers), "workers": workers}


def _counts(trials: list[FrozenTrial]) -> dict[str, int]:
    counts = {state.name: 0 for state in TrialState}
    for trial in trials:
        counts[trial.state.name] += 1
    return counts


def _phase_seconds(trials: list[FrozenTrial]) -> float | None:
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
    counts = _counts(trials)
    best = best_trial(study)
    companion = replicates.open_companion(study, create=False)
    done, planned = replicates.progress(companion)
    rep_trials = companion.get_trials(deepcopy=False) if companion is not None else []
    return {"study": study.study_name, "budget": experiment.n_trials,
            "finished": counts["COMPLETE"] + counts["PRUNED"], "trials_by_state": counts,
            "best": trial_summary(best, experiment.search) if best else None,
            **live_workers(study, trials),
            "replicates": {"study": replicates.companion_name(study.study_name),
                           "seeds_per_arm": experiment.replicates.seeds, "finished": done,
                           "planned": planned, "trials_by_state": _counts(rep_trials),
                           **({"workers": live_workers(companion, rep_trials)["workers"]}
                              if companion is not None else {})},
            "data": experiment.data, "profile": experiment.profile.name,
            "objective": experiment.objective, "pruner": experiment.pruner.get("name"),
            "checked_at": datetime.datetime.now().isoformat(timespec="seconds")}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    return "-" if value is None else str(value)


def _over(info: dict[str, Any]) -> str:
    """Why a study can hold more finished trials than its budget (the gate itself is exact)."""
    if info["budget"] is None or info["finished"] <= info["budget"]:
        return ""
    return (" (over the budget: a worker ran with a larger --n-trials, or the budget was "
            "lowered; `run --n-trials N` sets it)")


def status_table(info: dict[str, Any]) -> str:
    states = ", ".join(f"{k} {v}" for k, v in info["trials_by_state"].items() if v)
    rep = info["replicates"]
    lines = [(f"study         {info['study']} (data {info['data']}, profile {info['profile']}, "
              f"objective {info['objective']}, pruner {info['pruner']})"),
             f"trials        {states or 'none'}",
             f"finished      {info['finished']} / {_fmt(info['budget'])}{_over(info)}",
             (f"workers alive {info['workers_alive']} ({info['running_trials']} running, "
              f"{info['stale_running_trials']} stale)"),
             (f"replicates    {rep['finished']} / {rep['planned']} finished"
              if rep["planned"] else
              f"replicates    not planned yet ({rep['seeds_per_arm']} seeds per arm once the "
              "search budget is finished)")]
    best = info["best"]
    lines.append(f"best          trial {best['number']}: val {_fmt(best['value'])}, test "
                 f"{_fmt(best['test_accuracy'])}, λ {_fmt(best['lambda'])}, "
                 f"{_fmt(best['params'])}" if best else "best          no complete trial yet")
    return "\n".join(lines)


def status_command(args: argparse.Namespace) -> Output:
    info = status(open_checked(args, with_heartbeat=True))
    return Output(info, status_table(info))


def finished(loaded: service.LoadedStudy) -> bool:
    """The search budget is finished and every planned replicate too."""
    budget = loaded.experiment.n_trials
    if budget is None or budget_mod.n_finished(loaded.study) < budget:
        return False
    if loaded.experiment.replicates.seeds == 0:
        return True
    done, planned = replicates.progress(replicates.open_companion(loaded.study, create=False))
    return planned > 0 and done >= planned


def importance_line(study: optuna.Study) -> tuple[str, list]:
    """λ's rank by fANOVA over COMPLETE trials and over every finished trial, and whether the
    evaluators agree; with the number of trials each rests on."""
    from study import analysis

    results, problems = [], []
    complete = len(analysis.complete_trials(study))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for compute in (lambda: analysis.param_importance(study, "fanova", seed=0),
                        lambda: analysis.importance_all_trials(study, seed=0)):
            try:
                results.append(compute())
            except (ValueError, RuntimeError) as exc:
                problems.append(str(exc))
    if complete < MIN_TRIALS_FOR_IMPORTANCE or not results:
        return (f"not enough trials for importances ({complete} complete; "
                f"{'; '.join(problems) or 'need ' + str(MIN_TRIALS_FOR_IMPORTANCE)})"), results
    return analysis.rank_agreement(results), results


def answer_text(loaded: service.LoadedStudy) -> tuple[str, dict[str, Any]]:
    """The closing summary of `run` (text and the same numbers as data)."""
    from storage import redact_url

    study, experiment = loaded.study, loaded.experiment
    info = status(loaded)
    label = redact_url(loaded.url)
    rep = info["replicates"]
    if rep["planned"]:
        replicate_state = f"replicates {rep['finished']}/{rep['planned']}"
    else:
        replicate_state = ("no replicates yet" if experiment.replicates.seeds
                           else "no replicate phase")
    lines = [f"study {study.study_name}: {info['finished']} finished search trials"
             + (f" of a budget of {experiment.n_trials}" if experiment.n_trials else "")
             + f" ({_fmt({k: v for k, v in info['trials_by_state'].items() if v})}); "
             + replicate_state]
    best = info["best"]
    if best is None:
        lines.append("no complete trial yet: nothing to report")
    else:
        lines += [(f"best trial    {best['number']}: validation accuracy "
                   f"{_fmt(best['value'])}, test accuracy {_fmt(best['test_accuracy'])} "
                   "(one run: it ranks configurations, it does not measure effects)"),
                  f"best params   λ = {_fmt(best['lambda'])}, {_fmt(best['params'])}"]
    answer = effects.answer_of(study)
    if answer is not None:
        lines += ["", *effects.answer_lines(answer), ""]
    elif experiment.replicates.seeds:
        lines.append(f"answer        not yet: the replicate phase starts once the search budget "
                     f"is finished ({experiment.replicates.seeds} paired seeds per arm)")
    else:
        lines.append("answer        no replicate phase (--replicate-seeds 0): single trials do "
                     "not measure effects; run `python -m study replicate --seeds 4`")
    text, importances = importance_line(study)
    lines.append(f"importance    {text}")
    search = _phase_seconds([t for t in study.get_trials(deepcopy=False)
                             if t.state.is_finished()])
    companion = replicates.open_companion(study, create=False)
    repl = _phase_seconds([t for t in companion.get_trials(deepcopy=False)
                           if t.state.is_finished()]) if companion is not None else None
    lines.append(f"timing        search {_fmt(search and round(search))} s, replicates "
                 f"{_fmt(repl and round(repl))} s (first start to last end)")
    name = study.study_name
    lines += [f"next          python -m study report --storage {label} --study {name}",
              f"              python -m study dashboard --storage {label} --study {name}",
              f"              python -m study.best export --storage {label} --study {name}"]
    data = {"status": info, "answer": None if answer is None else answer.as_dict(),
            "importances": [r.to_dict() for r in importances],
            "seconds": {"search": search, "replicates": repl}}
    return "\n".join(lines), data


def answer(loaded: service.LoadedStudy) -> Output:
    text, data = answer_text(loaded)
    return Output(data, text)
