"""The command line: one table of commands, the flags they share, one error path.

`recon-study COMMAND` (or `python -m study COMMAND`). Every other documented entry point hands its
arguments to `main` here: `python -m study.best export|evaluate`, `python -m storage check`,
`python -m objectives.train`, `python -m objectives.prepare`.

Exit codes: 0 done; 1 a problem the user can fix (one `error:` line on stderr, the traceback
with --debug); 2 a usage error (argparse); 130 interrupted (Ctrl-C, SIGTERM); 141 the reader of
the output went away (`| head`). Results go to stdout, logs and progress to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from objectives import PROFILES, Profile
from storage import GRACE_FACTOR
from study import defaults
from study.errors import UserError
from study.output import Output, render, write_atomic

EXIT_USER_ERROR, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 1, 130, 141


# --- flag groups: each defined once, shared by the commands that take it -------------------


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def non_negative_int(text: str) -> int:
    return 0 if text.strip() == "0" else positive_int(text)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value}")
    return value


def _per_profile(describe: Callable[[Profile], str]) -> str:
    """A profile-dependent default for help texts, from the profiles themselves:
    "paper/paper-large-batch 32 256 32, quick 16 96 16" (one value: just the value)."""
    groups: dict[str, list[str]] = {}
    for name, profile in PROFILES.items():
        groups.setdefault(describe(profile), []).append(name)
    if len(groups) == 1:
        return next(iter(groups))
    return ", ".join(f"{'/'.join(names)} {value}" for value, names in groups.items())


def _numbers(values) -> str:
    return " ".join(f"{value:g}" for value in values)


def _budget_text(profile: Profile) -> str:
    seconds = defaults.replicates(profile.name).budget_s
    return "none" if seconds is None else f"{seconds / 60:g}m"


def _lambda_range(profile: Profile) -> str:
    return _numbers((10 ** profile.search.lambda_off_below, 10 ** profile.search.log10_lambda[1]))


def study_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("study")
    group.add_argument("--storage", metavar="URL", help="storage URL (else STUDY_STORAGE, "
                       f"OPTUNA_STORAGE, {defaults.STORAGE_URL})")
    group.add_argument("--study", metavar="NAME", help=f"study name (else {defaults.STUDY_NAME_ENV}"
                       f", else {defaults.STUDY_NAME}): letters, digits, '.', '_', '-'")


def data_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--data", help=f"synthetic[:N], fma:DIR or folder:DIR (default "
                       f"{defaults.DATA}, or the study's)")
    group.add_argument("--profile", choices=sorted(PROFILES), help=f"feature and training "
                       f"settings (default {defaults.PROFILE}, or the study's)")
    group.add_argument("--split", choices=("seed", "official"), help="FMA split: seeded "
                       "70/10/20 or tracks.csv's own (default seed, or the study's)")
    group.add_argument("--seed", type=int, help=f"base seed of split, training and sampler "
                       f"(default {defaults.SEED}, or the study's)")
    group.add_argument("--cache-dir", type=Path, help=f"feature caches (else "
                       f"{defaults.CACHE_DIR_ENV}, else {defaults.CACHE_DIR})")


def artifacts_flag(parser) -> None:
    parser.add_argument("--artifacts", metavar="STORE", help="the study's artifact store (models, "
                        "figures): a directory, file://DIR, s3://BUCKET or gs://BUCKET (else "
                        f"{defaults.ARTIFACTS_ENV}, else the one the study was created with, else "
                        f"./{defaults.ARTIFACTS})")


def experiment_flags(parser: argparse.ArgumentParser) -> None:
    data_flags(parser)
    group = parser.add_argument_group("experiment (a new study stores it; later commands must "
                                      "agree with it)")
    group.add_argument("--objective", help="lstm (real training), mock, or module:factory "
                       f"(default {defaults.OBJECTIVE}, or the study's)")
    group.add_argument("--max-epochs", type=int, help="cap on epochs per trial (default: the "
                       "profile's, or the study's)")
    group.add_argument("--holdout-data", metavar="SOURCE", help="a second labelled source with "
                       "the same class names: every replicate is also scored on it")
    group.add_argument("--model-dir", type=Path, help="this host's model cache: where trials "
                       "save their best model and export fetches it to (else "
                       f"{defaults.MODEL_DIR_ENV}, else ./{defaults.MODEL_DIR})")
    artifacts_flag(group)


def search_flags(parser: argparse.ArgumentParser) -> None:
    from study.search.pruner import PRUNERS

    group = parser.add_argument_group("search and replicates of a new study (default: the "
                                      "profile's)")
    group.add_argument("--pruner", choices=PRUNERS, help=f"default {defaults.PRUNER}")
    group.add_argument("--lambda-range", nargs=2, type=float, metavar=("LOW", "HIGH"),
                       help="λ searched log-uniformly from LOW to HIGH (> 0); the decade below "
                            "LOW means λ = 0 (default " + _per_profile(_lambda_range) + ")")
    group.add_argument("--dropout-range", nargs=2, type=float, metavar=("LOW", "HIGH"),
                       help="dropout range, 0 <= LOW <= HIGH < 1 (default "
                            + _per_profile(lambda p: _numbers(p.search.dropout)) + ")")
    group.add_argument("--hidden-range", nargs=3, type=int, metavar=("LOW", "HIGH", "STEP"),
                       help="hidden sizes LOW..HIGH in steps of STEP ("
                            + _per_profile(lambda p: _numbers(p.search.hidden)) + ")")
    group.add_argument("--replicate-seeds", type=non_negative_int, metavar="K", help="paired "
                       "seeds per replicate arm after the search ("
                       + _per_profile(lambda p: str(defaults.replicates(p.name).seeds)) + "; 0: none)")
    group.add_argument("--replicate-lambdas", nargs="+", type=float, metavar="λ", help="extra "
                       "points of the λ curve, beside λ = 0, the reference's 10 and the grid")
    group.add_argument("--curve-points", type=positive_int, metavar="N", help="λ > 0 points of "
                       "the curve, log-spaced over the λ range ("
                       + _per_profile(lambda p: str(defaults.replicates(p.name).curve_points)) + ")")
    group.add_argument("--replicate-candidates", type=positive_int, metavar="K", help="the top K "
                       "distinct search configurations that enter the race (default "
                       f"{defaults.REPLICATE_CANDIDATES})")
    group.add_argument("--replicate-dropouts", nargs="+", type=float, metavar="D", help="one-"
                       "factor dropout arms (default: the ends of the searched range)")
    group.add_argument("--replicate-hidden", nargs="+", type=int, metavar="H", help="one-factor "
                       "hidden-size arms (default: the ends of the searched range)")
    group.add_argument("--target-ci", type=float, metavar="POINTS", help="more seeds go to the "
                       "comparisons whose 95 %% interval is still wider than ±POINTS ("
                       + _per_profile(lambda p: f"{defaults.replicates(p.name).target * 100:g}") + ")")
    group.add_argument("--max-seeds", type=positive_int, metavar="N", help="seeds per arm at "
                       "most (" + _per_profile(lambda p: str(defaults.replicates(p.name).max_seeds)) + ")")
    group.add_argument("--replicate-budget", metavar="TIME", help="the replicate phase's budget: "
                       "wall time (90s, 20m, 2h) or GPU-hours (4gpuh) ("
                       + _per_profile(_budget_text) + ")")


def force_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true", help="lower a study's budget below the "
                        "search trials it has already finished")


def budget_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n-trials", type=positive_int, help="the study's budget: finished "
                        "search trials (complete + pruned) across ALL workers; `create` and `run` "
                        "store it (`run` on a new study: "
                        f"{defaults.RUN_BUDGET}), a `worker` given it only stops at that count")


def heartbeat_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("heartbeats (use one value for every worker of a study)")
    group.add_argument("--heartbeat-interval", type=int, metavar="S", help=(
        f"seconds between a running trial's heartbeats (else {defaults.HEARTBEAT_INTERVAL_ENV}, "
        f"else {defaults.HEARTBEAT_INTERVAL_S})"))
    group.add_argument("--heartbeat-grace", type=int, metavar="S", help=(
        "a RUNNING trial without a heartbeat for this long is failed and retried (else "
        f"{defaults.HEARTBEAT_GRACE_ENV}, else {GRACE_FACTOR} intervals)"))


def worker_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("workers")
    group.add_argument("--timeout", type=positive_float, help="stop starting trials after this "
                       "many seconds")
    group.add_argument("--devices", default="auto", help="auto (every GPU, else CPU), cpu, or "
                       "GPU indices like 0,1")
    group.add_argument("--per-device", type=positive_int, help="worker processes per device "
                       "(default 1 per GPU; on CPU one per core, at most "
                       f"{defaults.MAX_AUTO_CPU_WORKERS})")
    group.add_argument("--threads", type=positive_int, help="torch threads per CPU worker "
                       "process (default: cores / processes)")
    group.add_argument("--storage-outage", type=positive_float, metavar="S", help="how long a "
                       f"worker waits for a lost database (else {defaults.STORAGE_OUTAGE_ENV}, "
                       f"else {defaults.STORAGE_OUTAGE_S})")
    group.add_argument("--quiet", action="store_true", help="only warnings from Optuna")
    group.add_argument("--slot", help=argparse.SUPPRESS)  # set by the launcher for its children
    group.add_argument("--only-replicates", action="store_true", help=argparse.SUPPRESS)


def replicate_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", type=positive_int, metavar="K", help="paired seeds per arm "
                        "(default: the study's; more extends the phase)")
    parser.add_argument("--lambdas", nargs="+", type=float, metavar="λ", help="extra λ arms")


def report_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", type=Path, help=f"directory for REPORT.md and figures "
                        f"(default ./{defaults.REPORT_DIR})")
    parser.add_argument("--no-artifacts", action="store_true",
                        help="do not upload figures/curves or save the dashboard notes")
    parser.add_argument("--ablation", action="store_true", help="run the replicate phase here "
                        "first (serially, in this process), with --seeds K seeds per arm")
    parser.add_argument("--seeds", type=positive_int, help="seeds per replicate arm with "
                        "--ablation (default: the study's, at least "
                        f"{defaults.REPLICATE_SEEDS})")
    parser.add_argument("--device", default="auto", help="device of --ablation runs: auto, "
                        "cpu, cuda")


def dashboard_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=defaults.DASHBOARD_HOST, help="address to listen on "
                        f"(default {defaults.DASHBOARD_HOST}; 0.0.0.0 for other machines)")
    parser.add_argument("--port", type=int, default=defaults.DASHBOARD_PORT,
                        help=f"port (default {defaults.DASHBOARD_PORT})")


def export_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", type=Path, help="write to FILE instead of stdout")


def evaluate_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, help="a saved model (default: the best trial's)")
    parser.add_argument("--clips", choices=("all", "train", "val", "test"), default="all",
                        help="which clips of --data: all (default: new recordings) or one split")


def train_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lambda", dest="lam", type=float, default=0.0,
                        help="weight of the reconstruction loss (0 = plain classifier)")
    parser.add_argument("--dropout", type=float, help="dropout (default: the profile's baseline)")
    parser.add_argument("--hidden", type=int, help="LSTM hidden size (default: the profile's "
                        "baseline)")
    parser.add_argument("--epochs", type=int, help="default: the profile's")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--save", type=Path, help="write the best-validation model to this file")
    parser.add_argument("--progress", action="store_true", help="show Lightning's progress bar")


def prepare_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=positive_int, help="decoding processes (default: one "
                        "per CPU core)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


# --- the command table ---------------------------------------------------------------------
STUDY_COMMAND = (study_flags, experiment_flags)


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    target: str  # "module:function", imported only when the command runs
    flags: tuple[Callable[[argparse.ArgumentParser], None], ...] = ()
    formats: tuple[str, ...] = ()  # --format choices, the first is the default


COMMANDS: tuple[Command, ...] = (
    Command("create", "create the study (idempotent) and enqueue the λ = 0 baseline",
            "study.commands.create:create", (*STUDY_COMMAND, search_flags, budget_flags)),
    Command("worker", "serve an existing study: search trials, then its replicates",
            "study.commands.work:worker", (*STUDY_COMMAND, budget_flags, worker_flags, heartbeat_flags)),
    Command("run", "create if missing, search and replicate with progress, print the answer",
            "study.commands.work:run", (*STUDY_COMMAND, search_flags, budget_flags, force_flag,
                                        worker_flags, heartbeat_flags)),
    Command("replicate", "plan (or extend) the replicate runs by hand and serve them",
            "study.commands.work:replicate", (*STUDY_COMMAND, replicate_flags, worker_flags,
                                    heartbeat_flags)),
    Command("status", "trials by state, best so far, replicates, workers alive",
            "study.commands.status:status_command", (*STUDY_COMMAND, heartbeat_flags),
            formats=("table", "json", "yaml")),
    Command("report", "the answer: effects with intervals, importances, figures, notes",
            "study.commands.report:report_command", (*STUDY_COMMAND, report_flags),
            formats=("text", "json")),
    Command("dashboard", "optuna-dashboard on the study's storage and artifacts",
            "study.commands.dashboard:dashboard_command", (*STUDY_COMMAND, dashboard_flags)),
    Command("export", "the best configuration, its model and its replicate statistics",
            "study.commands.export:export_command", (*STUDY_COMMAND, export_flags),
            formats=("json", "yaml")),
    Command("evaluate", "accuracy of the best (or a given) model on another labelled source",
            "study.commands.export:evaluate_command", (*STUDY_COMMAND, evaluate_flags),
            formats=("json", "yaml")),
    Command("train", "train one configuration without a study; prints its results",
            "study.commands.standalone:train_command", (data_flags, train_flags), formats=("json", "yaml")),
    Command("prepare", "build (or reuse) the feature cache of a data source once",
            "study.commands.standalone:prepare_command", (data_flags, prepare_flags),
            formats=("json", "yaml")),
    Command("check", "what a storage URL points at: backend, reachability, schema, studies",
            "study.commands.standalone:check_command", (study_flags,), formats=("table", "json", "yaml")),
)


def build_parser(prog: str = "recon-study",
                 only: Sequence[str] | None = None) -> argparse.ArgumentParser:
    # allow_abbrev=False: `run --n-trial 5` was once taken for --n-trials and lowered a budget.
    parser = argparse.ArgumentParser(prog=prog, allow_abbrev=False, description=(
        "The reconstruction-λ study service: how much does an input-reconstruction loss help, "
        "relative to dropout and model size, and which configuration is best."))
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        if only is not None and command.name not in only:
            continue
        sub = commands.add_parser(command.name, help=command.help, description=command.help,
                                  allow_abbrev=False)
        for add in command.flags:
            add(sub)
        if command.formats:
            sub.add_argument("--format", choices=command.formats, default=command.formats[0])
        sub.add_argument("--debug", action="store_true", help="show tracebacks")
        sub.set_defaults(command_spec=command)
    return parser


# --- the one error path --------------------------------------------------------------------


def _known_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message is written for the user (anything else is a bug: its type shows)."""
    from objectives import CheckpointError, DataSourceError, FeatureCacheError, UnknownProfileError
    from storage import StorageError
    from study.artifact_store import ArtifactStoreError
    from study.experiment import ExperimentFormatError
    from study.model_store import ModelError

    return (UserError, StorageError, DataSourceError, FeatureCacheError, CheckpointError,
            ExperimentFormatError, UnknownProfileError, ArtifactStoreError, ModelError)


def error_message(exc: BaseException) -> str:
    """One line for the user; known error types speak for themselves."""
    text = str(exc) if isinstance(exc, _known_errors()) else \
        f"{type(exc).__name__}: {exc} (run with --debug for the traceback)"
    return " ".join(text.split())


def _run(args: argparse.Namespace) -> int:
    command: Command = args.command_spec
    module_name, _, function = command.target.partition(":")
    result = getattr(importlib.import_module(module_name), function)(args)
    if isinstance(result, Output):
        text = render(result, getattr(args, "format", None))
        destination = getattr(args, "output", None) if command.name == "export" else None
        if destination is not None:
            write_atomic(destination, text)
            print(f"wrote {destination}", file=sys.stderr)
        else:
            sys.stdout.write(text)
            sys.stdout.flush()  # inside the error path: a closed pipe is caught below
        return result.code
    return int(result or 0)


def main(argv: Sequence[str] | None = None, *, prog: str = "recon-study",
         only: Sequence[str] | None = None) -> int:
    """Parse, dispatch, and turn every failure into an exit code and at most one line."""
    import logging

    import optuna

    args = build_parser(prog, only).parse_args(None if argv is None else list(argv))
    optuna.logging.set_verbosity(logging.WARNING)  # workers turn trial logs back on
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader left (`| head`): say nothing, and keep Python's exit-time flush quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # noqa: BLE001 - every failure becomes one `error:` line
        from storage import scrub

        if args.debug:
            traceback.print_exc()
        # Storage errors hide passwords already; this also covers anything unexpected.
        url = defaults.storage_url(args.storage) if hasattr(args, "storage") else None
        print(f"error: {scrub(error_message(exc), url)}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
