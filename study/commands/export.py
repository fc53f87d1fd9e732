"""`export` and `evaluate`: the best configuration (and its model) out of a study.

export: best parameters (searched ones plus the effective `lambda`), value, trial number, test
accuracy, the replicate statistics of that configuration, the trial's and the study's attributes
and its model, as JSON or YAML. evaluate: the best trial's model (or --model) on another labelled
data source. Both fetch the model from the study's artifact store into this host's model cache
and check its size and digest (`study.models`), so they work on any host; a study made before
models went to the store has a local path only, used as it is. `python -m study.best
export|evaluate` is the same command as `recon-study export|evaluate`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from study import defaults, models, service
from study.analysis.effects import answer_of
from study.commands.common import open_checked
from study.errors import UserError
from study.output import Output
from study.trials import best_trial, count_states


def _replicates_of(loaded: Any, trial_number: int) -> dict[str, Any] | None:
    """The replicate statistics of the exported configuration (None until they exist)."""
    answer = answer_of(loaded.study)
    if answer is None or answer.plan.source_trial != trial_number:
        return None
    return answer.as_dict()


def best_record(loaded: Any, storage_label: str, args: argparse.Namespace) -> dict[str, Any]:
    """Everything `export` writes about the study's best trial, its model fetched to this host
    (`model`: artifact id, digest, bytes, store, local path; `model_error` if that failed)."""
    from objectives.search_space import effective_lambda

    study = loaded.study
    trial = best_trial(study)
    if trial is None:
        counts = count_states(study.get_trials(deepcopy=False))
        have = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no trials"
        raise UserError(f"study {study.study_name!r} has no complete trial yet ({have}); run "
                        f"`python -m study worker --study {study.study_name}` first")
    params = dict(trial.params)
    params["lambda"] = effective_lambda(trial, loaded.experiment.search)
    # A model in the store is fetched; an older study's model is its local path, as it is.
    model, model_error, model_path = None, None, trial.user_attrs.get("model_path")
    try:
        fetched = _fetch(loaded, trial, args)
    except models.ModelError as exc:
        model_error, model_path = str(exc), None
    else:
        if fetched is not None:
            model, model_path = fetched.as_dict(), str(fetched.path)
    return {
        "study": study.study_name, "storage": storage_label, "trial": trial.number,
        "value": trial.value, "metric": "best validation accuracy",
        "params": params, "test_accuracy": trial.user_attrs.get("test_accuracy"),
        "replicates": _replicates_of(loaded, trial.number),
        "model": model, "model_path": model_path,
        "model_exists": False if model_error else None if not model_path
        else Path(model_path).is_file(),
        "model_error": model_error,
        "datetime_complete": trial.datetime_complete.isoformat() if trial.datetime_complete
        else None,
        "experiment": loaded.experiment.as_dict(),
        "trial_user_attrs": dict(trial.user_attrs), "study_user_attrs": dict(study.user_attrs),
    }


def _fetch(loaded: Any, trial: Any, args: argparse.Namespace) -> models.FetchedModel | None:
    """The trial's model from the store (`--artifacts`, else STUDY_ARTIFACTS, else where it was
    uploaded, else the study's store) into this host's cache (`--model-dir`)."""
    recorded = models.uploaded_to(trial) or service.recorded_artifacts(loaded.study)
    return models.fetch_model(loaded.study, trial, model_dir=defaults.model_dir(args.model_dir),
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
    from objectives.evaluate import evaluate_checkpoint

    if not args.data:
        raise UserError("--data is required: the labelled data source to evaluate on "
                        "(synthetic, fma:DIR or folder:DIR)")
    model, source = args.model, {"model_path": str(args.model)} if args.model else None
    if model is None:
        from storage import redact_url

        # --data, --seed, --split and --profile describe the recordings to evaluate on here.
        loaded = open_checked(argparse.Namespace(**{**vars(args), "data": None, "seed": None,
                                                    "split": None, "profile": None}))
        record = best_record(loaded, redact_url(loaded.url), args)
        if record["model_error"]:
            raise models.ModelError(record["model_error"])
        if not record["model_path"]:
            raise UserError(f"best trial {record['trial']} of study {loaded.name!r} saved no "
                            "model (the mock objective saves none); pass --model PATH")
        model = Path(record["model_path"])
        source = {"study": loaded.name, "trial": record["trial"],
                  "validation_accuracy": record["value"], "model_path": str(model),
                  "model": record["model"]}
    if not Path(model).is_file():
        raise UserError(f"model file {str(model)!r} does not exist: was it written on another "
                        "machine, or moved? pass --model PATH")
    seed = defaults.SEED if args.seed is None else args.seed
    result = evaluate_checkpoint(Path(model), args.data, defaults.cache_dir(args.cache_dir),
                                 split=args.clips, seed=seed)
    return Output({"source": source, **result})
