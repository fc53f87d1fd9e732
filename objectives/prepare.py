"""`python -m objectives.prepare`: build (or reuse) the feature cache of a data source once.

Prints the cache summary as JSON on stdout and one line for humans on stderr. Before decoding
anything it checks the split: one warning per class that gets no val or no test clip, and an
error when a split would be empty altogether.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from objectives.cli_common import add_data_flags, default_cache_dir, run_reporting_errors
from objectives.profiles import get_profile


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m objectives.prepare", description=__doc__)
    add_data_flags(parser)
    parser.add_argument("--workers", type=int, default=None,
                        help="decoding processes (default: one per CPU core)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def run(args: argparse.Namespace) -> dict:
    from objectives.data import build_cache, check_splits, parse_source

    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be a positive integer, got {args.workers}")
    started = time.perf_counter()
    profile = get_profile(args.profile)
    cache_dir = args.cache_dir or default_cache_dir()
    source = parse_source(args.data, cache_dir=cache_dir, split=args.split, seed=args.seed)
    for warning in check_splits(source):
        print(f"warning: {warning}", file=sys.stderr)
    cache = build_cache(source, profile.features, cache_dir, workers=args.workers,
                        progress=not args.no_progress)
    summary = cache.summary()
    summary.update(profile=profile.name, split_mode=args.split, seed=args.seed,
                   seconds=round(time.perf_counter() - started, 3))
    return summary


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ok, summary = run_reporting_errors(lambda: run(args), debug=args.debug)
    if not ok:
        return 1
    print(json.dumps(summary, indent=1))
    splits = ", ".join(f"{name} {counts['ok']}" for name, counts in summary["splits"].items())
    verb = "reused" if summary["reused"] else "built"
    print(f"{verb} feature cache {summary['key']} ({splits}; {summary['failed']} failed) "
          f"in {summary['seconds']:.1f} s at {summary['directory']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
