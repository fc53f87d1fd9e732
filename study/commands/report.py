"""`report`: the answer, importances, figures and dashboard notes of a study; with `--ablation
--seeds K` the replicate phase first runs in this process."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from pathlib import Path
from typing import Any

from study import defaults, service
from study.artifact_store import open_artifact_store
from study.commands.common import open_checked, worker_options
from study.execution import launcher
from study.execution.worker import run_worker
from study.output import Output
from study.replicates import plan as replicate_plan
from study.reporting.report import build_report
from study.service import LoadedStudy


def _ablation(loaded: LoadedStudy, args: argparse.Namespace) -> Any:
    """`--ablation`: plan (or extend) the replicate phase to --seeds K per arm and serve it in
    this process, through the worker's replicate phase (the real objective of the study)."""
    experiment, name = loaded.experiment, loaded.study.study_name
    replicate_plan.require_finished_search(loaded, then="python -m study report --ablation")
    seeds = args.seeds or max(experiment.replicates.seeds, defaults.REPLICATE_SEEDS)
    if experiment.replicates.seeds < seeds:
        print(f"replicates of study {name!r}: {experiment.replicates.seeds} → {seeds} seeds per "
              "arm", file=sys.stderr)
        loaded = service.save_replicates(loaded, seeds=seeds)
    replicate_plan.ensure_planned(loaded, seeds=seeds,
                              log=lambda message: print(message, file=sys.stderr))
    slot = launcher.plan("cpu" if args.device == "cpu" else "auto", 1)[0]
    launcher.apply_slot_environment(slot)  # one process: every core, or the first GPU
    options = worker_options(args, search=False)
    run_worker(dataclasses.replace(options, slot=slot.label, threads=slot.threads,
                                   device=None if args.device == "auto" else args.device))
    return loaded


def report_command(args: argparse.Namespace):
    loaded = open_checked(args)
    store = None
    if not args.no_artifacts:
        store = open_artifact_store(defaults.artifacts(
            args.artifacts, recorded=service.recorded_artifacts(loaded.study)))
    output = (args.output or Path(defaults.REPORT_DIR)).expanduser().absolute()
    # stdout carries the report alone (`--format json` is read by scripts): whatever training
    # or a library prints goes to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        if args.ablation:
            loaded = _ablation(loaded, args)
        report = build_report(loaded, output, artifact_store=store, seed=loaded.experiment.seed,
                              save_note=store is not None)
    lines = [report.summary, "", (f"Report: {output / 'REPORT.md'} (figures: "
             f"{output / 'figures.html'})")]
    if store is not None:
        companion = ", and the replicates study's" if report.replicates_note else ""
        lines.append(f"Dashboard: the study's note saved{companion}; "
                     f"{len(report.study_artifacts)} study artifacts and "
                     f"{report.trial_artifacts} new learning curves uploaded; open it with "
                     "python -m study dashboard")
    return Output(report.data, "\n".join(lines))
