"""What the objectives' commands share: the data flags and how failures are reported."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from objectives.profiles import PROFILES

CACHE_DIR_ENV = "STUDY_CACHE_DIR"


def default_cache_dir() -> Path:
    """`$STUDY_CACHE_DIR`, else `~/.cache/recon-lambda/features` (resolved at call time).

    Read here, not in the data library, for the objectives' own commands only (until they join
    the service's command table, whose defaults live in `study.defaults`).
    """
    value = os.environ.get(CACHE_DIR_ENV)
    if value:
        return Path(value).expanduser()
    return Path.home() / ".cache" / "recon-lambda" / "features"


def add_data_flags(parser: argparse.ArgumentParser) -> None:
    """--data, --profile, --cache-dir, --split, --seed and --debug, as every command spells them."""
    parser.add_argument("--data", default="synthetic",
                        help="synthetic[:N] | fma:DIR | folder:DIR (default: synthetic)")
    parser.add_argument("--profile", default="quick", choices=sorted(PROFILES),
                        help="feature and training settings (default: quick)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="where caches live (default: $STUDY_CACHE_DIR or "
                             "~/.cache/recon-lambda/features)")
    parser.add_argument("--split", default="seed", choices=("seed", "official"),
                        help="FMA only: stratified seeded 70/10/20 or tracks.csv's own split")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the stratified split (and of training, where it trains)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def run_reporting_errors(action: Callable[[], Any], *, debug: bool) -> tuple[bool, Any]:
    """(True, result) when `action` succeeds; (False, None) after printing one error line."""
    try:
        return True, action()
    except Exception as error:  # one line for the user; the traceback only on request
        if debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return False, None
