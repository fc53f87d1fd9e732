"""`python -m storage check [--storage URL] [--format json|table] [--debug]`."""

from __future__ import annotations

import argparse
import sys
import traceback

from storage.errors import StorageError
from storage.url import resolve_storage_url, scrub


def build_parser() -> argparse.ArgumentParser:
    """The `python -m storage` argument parser."""
    parser = argparse.ArgumentParser(prog="python -m storage", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = commands.add_parser(
        "check",
        help="show what a storage URL points at: backend, reachability, schema, studies",
        description="Inspect the study storage without creating or changing anything.",
    )
    check.add_argument(
        "--storage",
        metavar="URL",
        help=(
            "storage URL (default: $STUDY_STORAGE, else $OPTUNA_STORAGE, else sqlite:///studies.db)"
        ),
    )
    check.add_argument("--format", choices=("table", "json"), default="table")
    check.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (1 for storage errors)."""
    args = build_parser().parse_args(argv)
    from storage.check import run_check  # keeps `--help` fast

    url = resolve_storage_url(args.storage)
    try:
        print(run_check(url, args.format))
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line unless --debug
        if args.debug:
            traceback.print_exc()
        if isinstance(exc, StorageError):
            message = str(exc)
        else:
            message = f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for details)"
        print(f"error: {scrub(message, url)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
