"""Commands that need no study: `train` one configuration, `prepare` a feature cache, `check`
what a storage URL points at."""

from __future__ import annotations

import argparse
import sys
import time

from study import defaults
from study.errors import UserError
from study.output import Output


def _experiment(args: argparse.Namespace, max_epochs: int | None = None):
    """The data part of an experiment from --data/--profile/--split/--seed (as a study has it)."""
    from study.experiment import from_flags

    return from_flags(argparse.Namespace(**{**vars(args), "max_epochs": max_epochs}),
                      n_trials=None)


def train_command(args: argparse.Namespace) -> Output:
    """Train one configuration; its results as one JSON line."""
    from objectives import (
        TrialParams,
        configure_threads,
        load_training_data,
        quiet_lightning,
        train_configuration,
    )
    if args.lam < 0:
        raise UserError(f"--lambda must be >= 0, got {args.lam}")
    if args.dropout is not None and not 0.0 <= args.dropout < 1.0:
        raise UserError(f"--dropout must lie in [0, 1), got {args.dropout}")
    if args.hidden is not None and args.hidden < 1:
        raise UserError(f"--hidden must be a positive integer, got {args.hidden}")
    if args.epochs is not None and args.epochs < 1:
        raise UserError(f"--epochs must be a positive integer, got {args.epochs}")
    experiment = _experiment(args, args.epochs)
    bounds = experiment.search
    params = TrialParams(
        lam=args.lam, dropout=bounds.baseline_dropout if args.dropout is None else args.dropout,
        hidden=bounds.baseline_hidden if args.hidden is None else args.hidden)
    data = load_training_data(experiment.trial_spec(), defaults.cache_dir(args.cache_dir), progress=True)
    configure_threads(defaults.threads())
    quiet_lightning()
    outcome = train_configuration(data, params, experiment.profile, seed=experiment.seed,
                                  device=args.device, checkpoint_path=args.save,
                                  progress=args.progress)
    result = {"data": experiment.data, "profile": experiment.profile.name, "lambda": params.lam,
              "dropout": params.dropout, "hidden": params.hidden, "seed": experiment.seed,
              "val_accuracy": round(outcome.val_accuracy, 4),
              "test_accuracy": round(outcome.test_accuracy, 4), "epochs": outcome.epochs,
              "best_epoch": outcome.best_epoch, "seconds": round(outcome.seconds, 2),
              "device": outcome.device, "feature_cache_key": data.key,
              "model_path": str(args.save) if args.save else None}
    return Output(result, compact_json=True)


def prepare_command(args: argparse.Namespace) -> Output:
    """Build (or reuse) a source's feature cache; its summary as JSON, one line for people."""
    from objectives import build_cache, check_splits, parse_source
    started = time.perf_counter()
    experiment = _experiment(args)
    cache_dir = defaults.cache_dir(args.cache_dir)
    source = parse_source(experiment.data, cache_dir=cache_dir, split=experiment.split,
                          seed=experiment.seed)
    for warning in check_splits(source):
        print(f"warning: {warning}", file=sys.stderr)
    cache = build_cache(source, experiment.profile.features, cache_dir, workers=args.workers,
                        progress=not args.no_progress)
    summary = cache.summary()
    summary.update(profile=experiment.profile.name, split_mode=experiment.split,
                   seed=experiment.seed, seconds=round(time.perf_counter() - started, 3))
    splits = ", ".join(f"{name} {counts['ok']}" for name, counts in summary["splits"].items())
    verb = "reused" if summary["reused"] else "built"
    print(f"{verb} feature cache {summary['key']} ({splits}; {summary['failed']} failed) "
          f"in {summary['seconds']:.1f} s at {summary['directory']}", file=sys.stderr)
    return Output(summary)


def check_command(args: argparse.Namespace) -> Output:
    """The storage URL's backend, reachability, schema and studies; changes nothing."""
    from storage import format_table, inspect_storage

    report = inspect_storage(defaults.storage_url(args.storage))
    return Output(report, format_table(report))
