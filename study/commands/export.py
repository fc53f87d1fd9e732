"""`export` and `evaluate`: the best configuration (and its model) out of a study.

export: best parameters (searched ones plus the effective `lambda`), value, trial number, test
accuracy, the replicate statistics of that configuration, the trial's and the study's attributes
and its model, as JSON or YAML. evaluate: the best trial's model (or --model) on another labelled
data source. Both fetch the model from the study's artifact store into this host's model cache
and check its size and digest (`study.model_store`), so they work on any host; a study made before
models went to the store has a local path only, used as it is. `python -m study.best
export|evaluate` is the same command as `recon-study export|evaluate`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from objectives import SearchBounds
from study import defaults, model_store, service
from study.analysis.effects import Answer
from study.analysis.statistics import MeanCI
from study.commands.common import open_checked
from study.errors import UsageError, UserError
from study.output import Output
from study.replicates.plan import companion_name, open_companion
from study.replicates.runs import answer_of
from study.service import LoadedStudy
from study.trials import best_trial, count_states


def _interval(ci: MeanCI | None) -> dict[str, Any] | None:
    return None if ci is None else {"mean": ci.mean, "low": ci.low, "high": ci.high, "n": ci.n}


def use_record(answer: Answer, bounds: SearchBounds) -> dict[str, Any]:
    """The configuration the replicates support: the race's winner, where it came from, its
    replicated accuracy, the search's single-run best against its replicates (the winner's
    curse) and how the race chose it (a tie resolved by the stated rule)."""
    from objectives import params_of
    winner, decisive = answer.winner, answer.decisive
    test = answer.summary(winner.key)
    curse, choice = decisive.curse, decisive.choice
    return {
        "source": "replicates: the race's choice on replicated validation accuracy",
        "arm": winner.key, "label": winner.label, "origin": winner.origin,
        "lambda": winner.lam, "dropout": winner.dropout, "hidden": winner.hidden,
        "params": params_of(winner.params, bounds), "search_trial": winner.search_trial,
        "replicated_test_accuracy": _interval(test.accuracy if test else None),
        "search_best": {"trial": answer.plan.source_trial,
                        "winners_curse": None if curse is None else curse.as_dict()},
        "choice": None if choice is None else {
            "rule": choice.rule, "leader": choice.leader, "tied": list(choice.tied)},
    }


def best_record(loaded: LoadedStudy, storage_label: str, args: argparse.Namespace) -> dict[str, Any]:
    """Everything `export` writes: the configuration to use (the replicates' winner, else the
    search's best single run), its model fetched to this host (`model`: artifact id, digest,
    bytes, store, local path; `model_error` if that failed), the replicate statistics and the
    search's best."""
    from objectives import effective_lambda
    study = loaded.study
    trial = best_trial(study)
    if trial is None:
        counts = count_states(study.get_trials(deepcopy=False))
        have = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no trials"
        raise UserError(f"study {study.study_name!r} has no complete trial yet ({have}); run "
                        f"`python -m study worker --study {study.study_name}` first")
    answer = answer_of(study)
    if answer is not None and answer.plan.source_trial != trial.number:
        answer = None  # a plan of an older best: the search was extended since
    use = None if answer is None or answer.winner is None else \
        use_record(answer, loaded.experiment.search)
    if use is not None and use["search_trial"] is not None:
        trial = study.trials[use["search_trial"]]  # the winner's own search run
    params = dict(use["params"]) if use is not None else dict(trial.params)
    params["lambda"] = use["lambda"] if use is not None else \
        effective_lambda(trial, loaded.experiment.search)
    search_trial = trial if use is None or use["search_trial"] is not None else None
    owner, model_trial = _model_owner(loaded, answer, search_trial)
    # A model in the store is fetched; an older study's model is its local path, as it is.
    model, model_error = None, None
    model_path = None if model_trial is None else model_trial.user_attrs.get("model_path")
    if model_trial is not None:
        try:
            fetched = _fetch(loaded, owner, model_trial, args)
        except model_store.ModelError as exc:
            model_error, model_path = str(exc), None
        else:
            if fetched is not None:
                model, model_path = fetched.as_dict(), str(fetched.path)
    run = search_trial or model_trial or _winners_first_run(loaded, answer)
    return {
        "study": study.study_name, "storage": storage_label,
        "chosen_by": "the replicates (race winner)" if use is not None
        else "the search's best single run (no replicate answer yet)",
        "params": params, "use": use,
        # The winner's own run: its search trial, else (an arm the search never ran, e.g. hidden
        # size at the end of its range) the replicate run whose model is exported.
        "trial": None if run is None else run.number,
        "trial_of": None if run is None else (study.study_name if run is search_trial
                                              else companion_name(study.study_name)),
        "value": None if run is None else run.value,
        "metric": "best validation accuracy",
        "test_accuracy": None if run is None else run.user_attrs.get("test_accuracy"),
        "replicates": None if answer is None else answer.as_dict(),
        "model": model, "model_path": model_path,
        "model_from": None if model_trial is None else f"{owner.study_name} trial "
                                                       f"{model_trial.number}",
        "model_exists": False if model_error else None if not model_path
        else Path(model_path).is_file(),
        "model_error": model_error,
        "datetime_complete": None if run is None or not run.datetime_complete
        else run.datetime_complete.isoformat(),
        "experiment": loaded.experiment.as_dict(),
        "trial_user_attrs": {} if model_trial is None else dict(model_trial.user_attrs),
        "study_user_attrs": dict(study.user_attrs),
    }


def _winners_first_run(loaded: LoadedStudy, answer: Answer | None) -> FrozenTrial | None:
    """The winner's replicate run with the lowest seed (for an arm the search never ran whose
    model was not kept): what the export's top-level trial, value and test accuracy show."""
    if answer is None or answer.winner is None:
        return None
    companion = open_companion(loaded.study, create=False)
    runs = [t for t in companion.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.user_attrs.get("plan") == answer.plan.source_trial
            and t.user_attrs.get("arm") == answer.winner.key]
    return min(runs, key=lambda t: t.user_attrs.get("seed", 0), default=None)


def _model_owner(loaded: LoadedStudy, answer: Answer | None,
                 search_trial: FrozenTrial) -> tuple[optuna.Study, FrozenTrial]:
    """(study, trial) whose model goes with the configuration: the winner's replicate run that
    kept its arm's model, else its search trial (the search's best without an answer)."""
    if answer is not None and answer.winner is not None:
        companion = open_companion(loaded.study, create=False)
        arm = f"{answer.plan.source_trial}:{answer.winner.key}"
        kept = next((k for k in model_store.kept_models(companion) if k.arm == arm), None)
        if kept is not None:
            return companion, companion.trials[kept.trial]
    return loaded.study, search_trial


def _fetch(loaded: LoadedStudy, owner: optuna.Study, trial: FrozenTrial,
           args: argparse.Namespace) -> model_store.FetchedModel | None:
    """The trial's model from the store (`--artifacts`, else STUDY_ARTIFACTS, else where it was
    uploaded, else the study's store) into this host's cache (`--model-dir`)."""
    recorded = model_store.uploaded_to(trial) or service.recorded_artifacts(loaded.study)
    return model_store.fetch_model(owner, trial, model_dir=defaults.model_dir(args.model_dir),
                              location=defaults.artifacts(args.artifacts, recorded=recorded))


def export_command(args: argparse.Namespace) -> Output:
    from storage import redact_url

    loaded = open_checked(args)
    record = best_record(loaded, redact_url(loaded.url), args)
    if record["model_error"]:
        print(f"warning: {record['model_error']}; the configuration is exported without it",
              file=sys.stderr)
    elif record["model"] is None and record["model_exists"] is False:
        print(f"warning: the best trial's model {record['model_path']} does not exist (moved, "
              "deleted, or written on another machine); the configuration is exported without it",
              file=sys.stderr)
    return Output(record)


def evaluate_command(args: argparse.Namespace) -> Output:
    from objectives import evaluate_checkpoint
    if not args.data:
        raise UsageError("--data is required: the labelled data source to evaluate on "
                        "(synthetic, fma:DIR or folder:DIR)")
    model, source = args.model, {"model_path": str(args.model)} if args.model else None
    if model is None:
        from storage import redact_url

        # --data, --seed, --split and --profile describe the recordings to evaluate on here.
        loaded = open_checked(argparse.Namespace(**{**vars(args), "data": None, "seed": None,
                                                    "split": None, "profile": None}))
        record = best_record(loaded, redact_url(loaded.url), args)
        if record["model_error"]:
            raise model_store.ModelError(record["model_error"])
        if not record["model_path"]:
            raise UserError(f"best trial {record['trial']} of study {record['trial_of']!r} saved no "
                            "model (the mock objective saves none); pass --model PATH")
        model = Path(record["model_path"])
        source = {"study": record["trial_of"], "trial": record["trial"],
                  "validation_accuracy": record["value"], "model_path": str(model),
                  "model": record["model"]}
    if not Path(model).is_file():
        raise UserError(f"model file {str(model)!r} does not exist: was it written on another "
                        "machine, or moved? pass --model PATH")
    seed = defaults.SEED if args.seed is None else args.seed
    result = evaluate_checkpoint(Path(model), args.data, defaults.cache_dir(args.cache_dir),
                                 split=args.clips, seed=seed)
    return Output({"source": source, **result})
