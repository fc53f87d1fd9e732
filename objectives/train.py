"""`python -m objectives.train`: train one configuration and print one JSON line of results."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from objectives.cli_common import add_data_flags, default_cache_dir, run_reporting_errors
from objectives.profiles import get_profile
from objectives.search_space import TrialParams


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m objectives.train", description=__doc__)
    add_data_flags(parser)
    parser.add_argument("--lambda", dest="lam", type=float, default=0.0,
                        help="weight of the reconstruction loss (0 = plain classifier)")
    parser.add_argument("--dropout", type=float, default=None,
                        help="dropout probability (default: the profile's baseline)")
    parser.add_argument("--hidden", type=int, default=None,
                        help="LSTM hidden size (default: the profile's baseline)")
    parser.add_argument("--epochs", type=int, default=None, help="default: the profile's")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--save", type=Path, default=None,
                        help="write the best-validation model to this file")
    parser.add_argument("--progress", action="store_true", help="show Lightning's progress bar")
    return parser


def _check(args: argparse.Namespace) -> None:
    if args.lam < 0:
        raise ValueError(f"--lambda must be >= 0, got {args.lam}")
    if args.dropout is not None and not 0.0 <= args.dropout < 1.0:
        raise ValueError(f"--dropout must lie in [0, 1), got {args.dropout}")
    if args.hidden is not None and args.hidden < 1:
        raise ValueError(f"--hidden must be a positive integer, got {args.hidden}")
    if args.epochs is not None and args.epochs < 1:
        raise ValueError(f"--epochs must be a positive integer, got {args.epochs}")


def run(args: argparse.Namespace) -> dict:
    from objectives.data import load_training_data
    from objectives.experiment import Experiment
    from objectives.training import configure_threads, quiet_lightning, train_configuration

    _check(args)
    profile = get_profile(args.profile)
    params = TrialParams(
        lam=args.lam,
        dropout=profile.search.baseline_dropout if args.dropout is None else args.dropout,
        hidden=profile.search.baseline_hidden if args.hidden is None else args.hidden)
    cache_dir = args.cache_dir or default_cache_dir()
    experiment = Experiment(data=args.data, profile=profile, split=args.split, seed=args.seed)
    data = load_training_data(experiment, cache_dir, progress=True)
    configure_threads()
    quiet_lightning()
    outcome = train_configuration(data, params, profile, seed=args.seed, max_epochs=args.epochs,
                                  device=args.device, checkpoint_path=args.save,
                                  progress=args.progress)
    return {"data": args.data, "profile": profile.name, "lambda": params.lam,
            "dropout": params.dropout, "hidden": params.hidden, "seed": args.seed,
            "val_accuracy": round(outcome.val_accuracy, 4),
            "test_accuracy": round(outcome.test_accuracy, 4), "epochs": outcome.epochs,
            "best_epoch": outcome.best_epoch, "seconds": round(outcome.seconds, 2),
            "device": outcome.device, "feature_cache_key": data.key,
            "model_path": str(args.save) if args.save else None}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ok, result = run_reporting_errors(lambda: run(args), debug=args.debug)
    if not ok:
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
