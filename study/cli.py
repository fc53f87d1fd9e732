"""`python -m study create|worker|run|status`: argument parsing, dispatch and error reporting."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Callable

from study.options import UserError, add_common_flags, add_heartbeat_flags

DEFAULT_RUN_BUDGET = 20
# Commands with their own module and parser, imported only when used (they load pandas & co.).
DELEGATED = {
    "report": ("study.report", "how much λ matters: REPORT.md, figures, dashboard note"),
    "dashboard": ("study.dashboard", "optuna-dashboard on the study's storage and artifacts"),
}


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value}")
    return value


def _create_flags(parser: argparse.ArgumentParser) -> None:
    from study.service import PRUNERS

    parser.add_argument("--pruner", choices=PRUNERS, default="median",
                        help="pruner stored with a new study (default median)")
    ranges = parser.add_argument_group("search space of a new study (default: the profile's)")
    ranges.add_argument("--lambda-range", nargs=2, type=float, metavar=("LOW", "HIGH"),
                        help="λ searched log-uniformly from LOW to HIGH (> 0); the decade below "
                             "LOW means λ = 0 (default 0.01 100)")
    ranges.add_argument("--dropout-range", nargs=2, type=float, metavar=("LOW", "HIGH"),
                        help="dropout range, 0 <= LOW <= HIGH < 1 (default 0 0.6)")
    ranges.add_argument("--hidden-range", nargs=3, type=int, metavar=("LOW", "HIGH", "STEP"),
                        help="hidden sizes LOW..HIGH in steps of STEP (quick 16 96 16, "
                             "paper 32 256 32)")


def _budget_flags(parser: argparse.ArgumentParser, *, run: bool) -> None:
    default = f"the study's budget, else {DEFAULT_RUN_BUDGET}" if run else \
        "the study's budget, else no limit"
    parser.add_argument("--n-trials", type=positive_int,
                        help=f"finished trials (complete + pruned) across ALL workers ({default})")


def _worker_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=positive_float,
                        help="stop starting trials after this many seconds")
    parser.add_argument("--devices", default="auto",
                        help="auto (every GPU, else CPU), cpu, or GPU indices like 0,1")
    parser.add_argument("--per-device", type=positive_int,
                        help="worker processes per device (default 1 per GPU; on CPU one per "
                             "core, at most 8)")
    parser.add_argument("--threads", type=positive_int,
                        help="torch threads per CPU worker process (default: cores / processes)")
    parser.add_argument("--quiet", action="store_true", help="only warnings from Optuna")
    parser.add_argument("--slot", help=argparse.SUPPRESS)  # set by the launcher for its children


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m study", description=(
        "The reconstruction-λ study service: create a study, fill it from parallel workers, "
        "watch it. Export the best with `python -m study.best export`."))
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    specs: list[tuple[str, str, Callable]] = [
        ("create", "create the study (idempotent) and enqueue the λ = 0 baseline", _cmd_create),
        ("worker", "run trials of an existing study until its budget is spent", _cmd_worker),
        ("run", "create if missing, run workers with progress, print a summary", _cmd_run),
        ("status", "trials by state, best so far, workers alive", _cmd_status),
    ]
    for name, help_text, func in specs:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        add_common_flags(sub)
        if name in ("create", "run"):
            _create_flags(sub)
        if name != "status":
            _budget_flags(sub, run=name == "run")
        if name in ("worker", "run"):
            _worker_flags(sub)
        if name != "create":
            add_heartbeat_flags(sub)
        if name == "status":
            sub.add_argument("--format", choices=("table", "json"), default="table")
        sub.set_defaults(func=func)
    for name, (_, help_text) in DELEGATED.items():  # listed in --help; main() hands them over
        commands.add_parser(name, help=help_text, add_help=False)
    return parser


def _cmd_create(args: argparse.Namespace) -> int:
    from storage import redact_url
    from study import service
    from study.options import check_objective_name, merge_with_study, resolve

    settings = resolve(args)
    check_objective_name(settings.objective)
    result = service.create(settings, pruner=args.pruner, n_trials=args.n_trials)
    where = redact_url(settings.storage_url)
    if result.created:
        print(f"created study {settings.study_name!r} in {where} (data {settings.data}, profile "
              f"{settings.profile}, objective {settings.objective}, pruner {args.pruner}); "
              "the λ = 0 baseline is enqueued")
    else:
        attrs = result.attrs
        merge_with_study(settings, args, attrs)  # contradicting flags are an error, not ignored
        print(f"study {settings.study_name!r} already exists in {where} (data {attrs.get('data')}, "
              f"profile {attrs.get('profile')}, objective {attrs.get('objective')}); left as is")
    return 0


def _settings_for_existing(args: argparse.Namespace):
    """Settings of a worker: flags, environment, then the study's own stored experiment."""
    from study import service
    from study.options import merge_with_study, resolve

    settings = resolve(args)
    study = service.load(settings.storage_url, settings.study_name, heartbeat_interval=None)
    return merge_with_study(settings, args, study.user_attrs), study


def _cmd_worker(args: argparse.Namespace) -> int:
    settings, study = _settings_for_existing(args)
    budget = args.n_trials if args.n_trials is not None else study.user_attrs.get("n_trials")
    return _work(args, settings, budget, progress=False)


def _work(args: argparse.Namespace, settings, budget: int | None, *, progress: bool) -> int:
    from study import launcher
    from study.worker import run_worker

    if args.slot:
        return run_worker(settings, n_trials=budget, timeout=args.timeout, slot=args.slot,
                          quiet=args.quiet)
    slots = launcher.plan(args.devices, args.per_device, args.threads)
    if len(slots) == 1 and not progress:
        launcher.apply_slot_environment(slots[0])
        return run_worker(settings, n_trials=budget, timeout=args.timeout, slot=slots[0].label,
                          quiet=args.quiet)

    def child_argv(slot: launcher.Slot) -> list[str]:
        argv = ["worker", "--slot", slot.label, "--cache-dir", str(settings.cache_dir),
                "--model-dir", str(settings.model_dir),
                "--heartbeat-interval", str(settings.heartbeat_interval),
                "--heartbeat-grace", str(settings.heartbeat_grace)]
        if budget is not None:
            argv += ["--n-trials", str(budget)]
        if args.timeout is not None:
            argv += ["--timeout", str(args.timeout)]
        if args.quiet or progress:
            argv.append("--quiet")
        if args.debug:
            argv.append("--debug")
        return argv

    import os

    # The URL travels in the environment, not on a command line that `ps` shows.
    env = {**os.environ, "STUDY_STORAGE": settings.storage_url, "STUDY_NAME": settings.study_name}
    devices = ", ".join(slot.label for slot in slots)
    print(f"starting {len(slots)} worker processes ({devices}; {slots[0].threads} threads each)",
          file=sys.stderr)
    poll = _progress(settings, budget) if progress else None
    try:
        return launcher.launch(slots, child_argv, env, poll=poll)
    finally:
        if poll is not None:
            poll.close()  # type: ignore[attr-defined]


class _progress:
    """Polls the storage while workers run: finished / budget and the best value so far.

    A tqdm bar on a terminal; elsewhere (logs, CI) one line whenever the numbers change.
    """

    def __init__(self, settings, budget: int | None) -> None:
        from study import service

        self.study = service.load(settings.storage_url, settings.study_name,
                                  heartbeat_interval=None)
        self.budget = budget
        self.last: tuple | None = None
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=budget, unit="trial", desc="trials", file=sys.stderr,
                            dynamic_ncols=True)

    def __call__(self) -> None:
        from optuna.trial import TrialState

        trials = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,
                                                                TrialState.PRUNED,
                                                                TrialState.RUNNING))
        done = [t for t in trials if t.state != TrialState.RUNNING]
        values = [t.value for t in done if t.state == TrialState.COMPLETE]
        best = f"{max(values):.4f}" if values else "-"
        running = len(trials) - len(done)
        if self.bar is not None:
            self.bar.n = len(done)
            self.bar.set_postfix(running=running, best=best, refresh=False)
            self.bar.refresh()
        elif (len(done), running, best) != self.last:
            self.last = (len(done), running, best)
            print(f"trials finished {len(done)}/{self.budget or '-'}, running {running}, "
                  f"best {best}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _cmd_run(args: argparse.Namespace) -> int:
    from storage import redact_url
    from study import service
    from study.options import check_objective_name, merge_with_study, resolve
    from study.summary import summary_text

    settings = resolve(args)
    check_objective_name(settings.objective)
    result = service.create(settings, pruner=args.pruner,
                            n_trials=args.n_trials or DEFAULT_RUN_BUDGET)
    if not result.created:
        settings = merge_with_study(settings, args, result.attrs)
    budget = args.n_trials or result.attrs.get("n_trials") or DEFAULT_RUN_BUDGET
    print(f"{'created' if result.created else 'continuing'} study {settings.study_name!r} in "
          f"{redact_url(settings.storage_url)}: objective {settings.objective}, data "
          f"{settings.data}, profile {settings.profile}, budget {budget} trials", file=sys.stderr)
    code = _work(args, settings, budget, progress=True)
    study = service.load(settings.storage_url, settings.study_name, heartbeat_interval=None)
    print(summary_text(study, redact_url(settings.storage_url), budget))
    return code


def _cmd_status(args: argparse.Namespace) -> int:
    from study import service
    from study.options import resolve
    from study.summary import status, status_table

    settings = resolve(args)
    info = status(service.load(settings.storage_url, settings.study_name,
                               heartbeat_interval=settings.heartbeat_interval,
                               grace_period=settings.heartbeat_grace))
    print(json.dumps(info, indent=2) if args.format == "json" else status_table(info))
    return 0


def error_message(exc: BaseException) -> str:
    """One line for the user; known error types speak for themselves."""
    from storage import StorageError

    known: tuple[type[BaseException], ...] = (UserError, StorageError)
    try:
        from objectives.profiles import UnknownProfileError

        known += (UnknownProfileError,)
        from objectives.data import DataSourceError, FeatureCacheError

        known += (DataSourceError, FeatureCacheError)
    except ImportError:
        pass
    text = str(exc) if isinstance(exc, known) else \
        f"{type(exc).__name__}: {exc} (run with --debug for the traceback)"
    return " ".join(text.split())


def run_main(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    """Parse, dispatch, and turn exceptions into one `error:` line (traceback with --debug)."""
    import logging

    import optuna

    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(logging.WARNING)  # workers turn trial logs back on
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - every failure becomes one `error:` line
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(f"error: {error_message(exc)}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in DELEGATED:
        import importlib

        return importlib.import_module(DELEGATED[argv[0]][0]).main(argv[1:])
    return run_main(build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
