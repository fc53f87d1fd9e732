"""`create`: make the study once (safe from many places at once), check its data source's splits
without decoding, enqueue the λ = 0 baseline and store the experiment. `run` creates through here."""

from __future__ import annotations

import argparse
import sys

from study import defaults, service
from study.commands.common import location
from study.experiment import check_flags, from_flags


def _data_check(experiment, cache_dir) -> str | None:
    """The feature cache key of a new study's data, after checking its splits (no decoding)."""
    from objectives import cache_key, check_splits, parse_source
    source = parse_source(experiment.data, cache_dir=cache_dir, split=experiment.split,
                          seed=experiment.seed)
    for warning in check_splits(source):  # refuses a split that would be empty
        print(f"warning: {warning}", file=sys.stderr)
    if experiment.holdout_data:
        parse_source(experiment.holdout_data, cache_dir=cache_dir, seed=experiment.seed)
    return cache_key(source, experiment.profile.features)


def create_or_open(args: argparse.Namespace,
                   n_trials: int | None) -> tuple[service.LoadedStudy, bool]:
    """The study the flags describe, created if missing; whether this call created it."""
    url, name = location(args)
    service.check_study_name(name)
    experiment = from_flags(args, n_trials=n_trials)
    key = _data_check(experiment, defaults.cache_dir(args.cache_dir))
    # The store is recorded with a new study: commands on hosts without a setting find it.
    loaded, created = service.create(url, name, experiment, feature_cache_key=key,
                                     artifact_store=defaults.artifacts(args.artifacts))
    if not created:
        check_flags(loaded.experiment, args, name)
    return loaded, created


def describe(experiment) -> str:
    return (f"data {experiment.data}, profile {experiment.profile.name}, objective "
            f"{experiment.objective}, pruner {experiment.pruner['name']}, budget "
            f"{experiment.n_trials or 'none'}, replicates {experiment.replicates.seeds} seeds/arm")


def create(args: argparse.Namespace) -> int:
    from storage import redact_url

    loaded, created = create_or_open(args, args.n_trials)
    where = redact_url(loaded.url)
    if created:
        print(f"created study {loaded.name!r} in {where} ({describe(loaded.experiment)}); the "
              "λ = 0 baseline is enqueued")
    else:
        print(f"study {loaded.name!r} already exists in {where} "
              f"({describe(loaded.experiment)}); left as is")
    return 0
