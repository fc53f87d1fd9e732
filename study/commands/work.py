"""`worker`, `run` and `replicate`: putting workers on a study.

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

from storage import backend_of
from study import defaults, service
from study.commands.common import open_checked, worker_options
from study.commands.create import create_or_open, describe
from study.errors import UserError
from study.execution import launcher
from study.execution.worker import WorkerOptions, run_worker
from study.output import Output
from study.replicates import plan as replicate_plan
from study.replicates.runs import answer_of
from study.trials import n_finished


def worker(args: argparse.Namespace) -> int:
    if getattr(args, "slot", None):  # a child of the launcher
        options = dataclasses.replace(worker_options(args, search=not args.only_replicates),
                                      slot=args.slot, watch_parent=True)
        return run_worker(options)
    # Checked here (a clear error before any process starts), then let go: its pooled
    # connections would sit idle on the server while the workers run.
    backend_of(open_checked(args).study).engine.dispose()
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
        if options.artifacts:
            argv += ["--artifacts", options.artifacts]
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
    from study.execution.progress import Progress

    loaded, created = create_or_open(args, args.n_trials or defaults.RUN_BUDGET)
    if not created and args.n_trials and args.n_trials != loaded.experiment.n_trials:
        finished = n_finished(loaded.study)
        if args.n_trials < finished and not args.force:
            raise UserError(f"study {loaded.name!r} already has {finished} finished search "
                            f"trials: --n-trials {args.n_trials} would lower its budget below "
                            "them; pass --force to store it anyway")
        print(f"budget of study {loaded.name!r}: {loaded.experiment.n_trials} → {args.n_trials} "
              "finished trials", file=sys.stderr)
        loaded = service.save_budget(loaded, args.n_trials)
    print(f"{'created' if created else 'continuing'} study {loaded.name!r} in "
          f"{redact_url(loaded.url)}: {describe(loaded.experiment)}", file=sys.stderr)
    progress = Progress(loaded)
    try:
        outcome = _work(args, worker_options(args), progress)
    finally:
        progress.close()
    return _closing(loaded, outcome)


def replicate(args: argparse.Namespace) -> Output | int:
    from study.execution.progress import Progress

    loaded = open_checked(args)
    if not (args.seeds or loaded.experiment.replicates.seeds):
        raise UserError(f"study {loaded.name!r} plans no replicates (--replicate-seeds 0): "
                        "pass --seeds K")
    replicate_plan.require_finished_search(loaded, then="python -m study replicate")
    # Stored first: every worker, here or on another host, then serves the extended plan.
    loaded = service.save_replicates(loaded, seeds=args.seeds or 0,
                                     lambdas=tuple(args.lambdas or ()))
    replicate_plan.ensure_planned(loaded, log=lambda message: print(message, file=sys.stderr))
    progress = Progress(loaded)
    try:
        outcome = _work(args, worker_options(args, search=False), progress)
    finally:
        progress.close()
    return _closing(loaded, outcome)


def _closing(loaded: service.LoadedStudy, outcome: int | launcher.LaunchResult) -> Output:
    """The answer, printed whatever happened to the workers; the exit code says what did."""
    from study.reporting.answer_text import answer_attribute
    from study.reporting.status import finished
    from study.reporting.summary import answer

    backend_of(loaded.study).engine.dispose()  # its pooled connections: the answer opens anew
    reopened = service.open_study(loaded.url, loaded.name)
    replicated = answer_of(reopened.study)
    if replicated is not None and replicated.plan.done is not None:
        # on the dashboard's study page too; the summary below only prints
        service.publish_answer(reopened.study, answer_attribute(replicated))
    result = answer(reopened, replicated)
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
