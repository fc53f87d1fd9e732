"""`python -m study.best export|evaluate`: the best configuration (and its model) out of a study.

export: best parameters (searched ones plus the effective `lambda`), value, trial number, test
accuracy, the trial's and the study's attributes and the saved model's path, as JSON or YAML.
evaluate: the best trial's saved model (or --model) on another labelled data source.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from study.cli import run_main
from study.options import UserError, add_common_flags


def best_record(study: Any, storage_label: str) -> dict[str, Any]:
    """Everything `export` writes about the study's best trial."""
    from optuna.trial import TrialState

    from study.summary import best_trial

    trial = best_trial(study)
    if trial is None:
        counts: dict[str, int] = {}
        for t in study.get_trials(deepcopy=False):
            counts[t.state.name] = counts.get(t.state.name, 0) + 1
        have = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no trials"
        raise UserError(f"study {study.study_name!r} has no complete trial yet ({have}); run "
                        f"`python -m study worker --study {study.study_name}` first")
    assert trial.state == TrialState.COMPLETE
    attrs = study.user_attrs
    params = dict(trial.params)
    params["lambda"] = _effective_lambda(trial, attrs)
    return {
        "study": study.study_name, "storage": storage_label, "trial": trial.number,
        "value": trial.value, "metric": "best validation accuracy",
        "params": params, "test_accuracy": trial.user_attrs.get("test_accuracy"),
        "model_path": trial.user_attrs.get("model_path"),
        "datetime_complete": trial.datetime_complete.isoformat() if trial.datetime_complete
        else None,
        "trial_user_attrs": dict(trial.user_attrs), "study_user_attrs": dict(attrs),
    }


def _effective_lambda(trial: Any, attrs: dict[str, Any]) -> float | None:
    if "lambda" in trial.user_attrs:
        return trial.user_attrs["lambda"]
    from objectives.profiles import get_profile
    from objectives.search_space import from_params

    try:
        return from_params(trial.params, get_profile(attrs.get("profile", "quick")).search).lam
    except (KeyError, ValueError):
        return None


def render(record: dict[str, Any], fmt: str) -> str:
    if fmt == "yaml":
        import yaml

        return yaml.safe_dump(record, sort_keys=False, allow_unicode=True)
    return json.dumps(record, indent=2, ensure_ascii=False) + "\n"


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _load_study(args: argparse.Namespace):
    from storage import redact_url
    from study import service
    from study.options import resolve

    settings = resolve(args)
    study = service.load(settings.storage_url, settings.study_name, heartbeat_interval=None)
    return settings, study, redact_url(settings.storage_url)


def _cmd_export(args: argparse.Namespace) -> int:
    _, study, label = _load_study(args)
    text = render(best_record(study, label), args.format)
    if args.output:
        _write_atomic(args.output, text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from study.options import resolve

    if not args.data:
        raise UserError("--data is required: the labelled data source to evaluate on "
                        "(synthetic, fma:DIR or folder:DIR)")
    settings = resolve(args)
    model = args.model
    source = {"model_path": str(model)} if model else None
    if model is None:
        _, study, label = _load_study(args)
        record = best_record(study, label)
        if not record["model_path"]:
            raise UserError(f"best trial {record['trial']} of study {study.study_name!r} saved "
                            "no model (the mock objective saves none); pass --model PATH")
        model = Path(record["model_path"])
        source = {"study": study.study_name, "trial": record["trial"],
                  "validation_accuracy": record["value"], "model_path": str(model)}
    if not Path(model).is_file():
        raise UserError(f"model file {str(model)!r} does not exist: was it written on another "
                        "machine, or moved? pass --model PATH")
    from objectives.evaluate import evaluate_checkpoint

    result = evaluate_checkpoint(Path(model), settings.data, settings.cache_dir, split=args.clips,
                                 seed=settings.seed)
    print(json.dumps({"source": source, **result}, indent=2, ensure_ascii=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m study.best", description=(
        "The best configuration of a study: export it, or evaluate its model on other data."))
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    export = commands.add_parser("export", help="print the best trial as JSON or YAML")
    add_common_flags(export)
    export.add_argument("--format", choices=("json", "yaml"), default="json")
    export.add_argument("--output", type=Path, help="write to FILE instead of stdout")
    export.set_defaults(func=_cmd_export)
    evaluate = commands.add_parser("evaluate", help="accuracy of the best model on --data SRC")
    add_common_flags(evaluate)
    evaluate.add_argument("--model", type=Path, help="a saved model (default: the best trial's)")
    evaluate.add_argument("--clips", choices=("all", "train", "val", "test"), default="all",
                          help="which clips of --data: all (default: new recordings) or one "
                               "split of it")
    evaluate.set_defaults(func=_cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_main(build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
