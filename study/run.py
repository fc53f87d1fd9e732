"""`create`, `worker`, `run` and `replicate`: making a study and putting workers on it.

`run` is the main job: create the study if missing, start one worker process per core (or GPU),
show progress through both phases (search, then replicates) and end with the answer. A worker
that dies does not fail a study that still finishes: its trial is retried by the others, and
`run` says which worker was lost.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable

from study import defaults, experiments, launcher, replicates, service
from study.cli import Output, heartbeat, location, open_checked
from study.errors import UserError
from study.worker import WorkerOptions, run_worker


def worker_options(args: argparse.Namespace, *, search: bool = True,
                   replicate: bool = True) -> WorkerOptions:
    """A worker's settings from its flags and the environment (the experiment is the study's)."""
    url, name = location(args)
    try:
        outage = defaults.storage_outage(getattr(args, "storage_outage", None))
        threads, delay = defaults.threads(), defaults.mock_delay()
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return WorkerOptions(
        url=url, study=name, cache_dir=defaults.cache_dir(args.cache_dir),
        model_dir=defaults.model_dir(args.model_dir), heartbeat=heartbeat(args),
        storage_outage_s=outage, n_trials=getattr(args, "n_trials", None),
        timeout=getattr(args, "timeout", None), host=defaults.worker_host(), threads=threads,
        mock_delay=delay, quiet=getattr(args, "quiet", False), search=search,
        replicate=replicate, debug=getattr(args, "debug", False))


def _data_check(experiment, cache_dir) -> str | None:
    """The feature cache key of a new study's data, after checking its splits (no decoding)."""
    from objectives.data import check_splits
    from objectives.data.features import cache_key
    from objectives.data.registry import parse_source

    source = parse_source(experiment.data, cache_dir=cache_dir, split=experiment.split,
                          seed=experiment.seed)
    for warning in check_splits(source):  # refuses a split that would be empty
        print(f"warning: {warning}", file=sys.stderr)
    if experiment.holdout_data:
        parse_source(experiment.holdout_data, cache_dir=cache_dir, seed=experiment.seed)
    return cache_key(source, experiment.profile.features)


def _create(args: argparse.Namespace, n_trials: int | None) -> tuple[service.LoadedStudy, bool]:
    url, name = location(args)
    service.check_study_name(name)
    experiment = experiments.from_flags(args, n_trials=n_trials)
    key = _data_check(experiment, defaults.cache_dir(args.cache_dir))
    loaded, created = service.create(url, name, experiment, feature_cache_key=key)
    if not created:
        experiments.check_flags(loaded.experiment, args, name)
    return loaded, created


def _describe(experiment) -> str:
    return (f"data {experiment.data}, profile {experiment.profile.name}, objective "
            f"{experiment.objective}, pruner {experiment.pruner['name']}, budget "
            f"{experiment.n_trials or 'none'}, replicates {experiment.replicates.seeds} seeds/arm")


def create(args: argparse.Namespace) -> int:
    from storage import redact_url

    loaded, created = _create(args, args.n_trials)
    where = redact_url(loaded.url)
    if created:
        print(f"created study {loaded.name!r} in {where} ({_describe(loaded.experiment)}); the "
              "λ = 0 baseline is enqueued")
    else:
        print(f"study {loaded.name!r} already exists in {where} "
              f"({_describe(loaded.experiment)}); left as is")
    return 0


def worker(args: argparse.Namespace) -> int:
    if getattr(args, "slot", None):  # a child of the launcher
        options = dataclasses.replace(worker_options(args, search=not args.only_replicates),
                                      slot=args.slot, watch_parent=True)
        return run_worker(options)
    open_checked(args)
    outcome = _work(args, worker_options(args), progress=None)
    if isinstance(outcome, int):
        return outcome
    if outcome.interrupted:
        return 130
    if outcome.failed:
        raise UserError(f"worker processes failed: {outcome.describe()}; see their messages "
                        "above")
    return 0


def _work(args: argparse.Namespace, options: WorkerOptions,
          progress: Callable[[], None] | None) -> int | launcher.LaunchResult:
    """Run `options` in this process (one slot, no progress) or in one child per slot."""
    slots = launcher.plan(args.devices, args.per_device, args.threads)
    if len(slots) == 1 and progress is None:
        launcher.apply_slot_environment(slots[0])
        return run_worker(dataclasses.replace(options, slot=slots[0].label,
                                              threads=slots[0].threads))

    def child_argv(slot: launcher.Slot) -> list[str]:
        argv = ["worker", "--slot", slot.label, "--cache-dir", str(options.cache_dir),
                "--model-dir", str(options.model_dir),
                "--heartbeat-interval", str(options.heartbeat.interval),
                "--heartbeat-grace", str(options.heartbeat.grace),
                "--storage-outage", str(options.storage_outage_s)]
        if options.n_trials is not None:
            argv += ["--n-trials", str(options.n_trials)]
        if options.timeout is not None:
            argv += ["--timeout", str(options.timeout)]
        if not options.search:
            argv.append("--only-replicates")
        if options.quiet or progress is not None:
            argv.append("--quiet")
        if options.debug:
            argv.append("--debug")
        return argv

    import os

    # The URL travels in the environment, not on a command line that `ps` shows.
    env = {**os.environ, defaults.STORAGE_ENV[0]: options.url,
           defaults.STUDY_NAME_ENV: options.study}
    devices = ", ".join(slot.label for slot in slots)
    print(f"starting {len(slots)} worker processes ({devices}; {slots[0].threads} threads each)",
          file=sys.stderr)
    return launcher.launch(slots, child_argv, env, poll=progress)


def run(args: argparse.Namespace) -> Output | int:
    from storage import redact_url
    from study.progress import Progress

    loaded, created = _create(args, args.n_trials or defaults.RUN_BUDGET)
    if not created and args.n_trials and args.n_trials != loaded.experiment.n_trials:
        print(f"budget of study {loaded.name!r}: {loaded.experiment.n_trials} → {args.n_trials} "
              "finished trials", file=sys.stderr)
        loaded = service.save_budget(loaded, args.n_trials)
    print(f"{'created' if created else 'continuing'} study {loaded.name!r} in "
          f"{redact_url(loaded.url)}: {_describe(loaded.experiment)}", file=sys.stderr)
    progress = Progress(loaded)
    try:
        outcome = _work(args, worker_options(args), progress)
    finally:
        progress.close()
    return _closing(loaded, outcome)


def replicate(args: argparse.Namespace) -> Output | int:
    from study.progress import Progress

    loaded = open_checked(args)
    if not (args.seeds or loaded.experiment.replicates.seeds):
        raise UserError(f"study {loaded.name!r} plans no replicates (--replicate-seeds 0): "
                        "pass --seeds K")
    replicates.require_finished_search(loaded, then="python -m study replicate")
    # Stored first: every worker, here or on another host, then serves the extended plan.
    loaded = service.save_replicates(loaded, seeds=args.seeds or 0,
                                     lambdas=tuple(args.lambdas or ()))
    replicates.ensure_planned(loaded, log=lambda message: print(message, file=sys.stderr))
    progress = Progress(loaded)
    try:
        outcome = _work(args, worker_options(args, search=False), progress)
    finally:
        progress.close()
    return _closing(loaded, outcome)


def _closing(loaded: service.LoadedStudy, outcome: int | launcher.LaunchResult) -> Output:
    """The answer, printed whatever happened to the workers; the exit code says what did."""
    from study.summary import answer, finished

    reopened = service.open_study(loaded.url, loaded.name)
    result = answer(reopened)
    if isinstance(outcome, launcher.LaunchResult):
        if outcome.interrupted:
            result.code = 130
        elif outcome.failed:
            if finished(reopened):
                print(f"warning: lost worker processes {outcome.describe()}; the others "
                      "finished the study without them (their trials were re-run)",
                      file=sys.stderr)
            else:
                print(f"error: worker processes failed: {outcome.describe()}, and the study is "
                      "not finished; see their messages above, then run again to continue",
                      file=sys.stderr)
                result.code = 1
    elif outcome:
        result.code = outcome
    return result
