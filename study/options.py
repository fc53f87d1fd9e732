"""Flags shared by every command and the one place where their defaults are resolved.

Defaults are read at call time: flag, else environment variable, else the embedded default.
A worker joining an existing study takes data, profile and objective from the study itself;
an explicit flag that contradicts the study is an error (one study, one experiment).
"""

from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from objectives.profiles import PROFILES
from storage.rdb import GRACE_FACTOR as HEARTBEAT_GRACE_FACTOR
from storage.rdb import HEARTBEAT_INTERVAL_S as DEFAULT_HEARTBEAT_INTERVAL

DEFAULT_STUDY_NAME = "recon-lambda"
DEFAULT_DATA = "synthetic"
DEFAULT_PROFILE = "quick"
DEFAULT_OBJECTIVE = "lstm"
DEFAULT_MODEL_DIR = "study_models"  # relative to where the user runs the command
DEFAULT_SEED = 0
DEFAULT_SPLIT = "seed"
OBJECTIVES = {
    "lstm": "objectives.objective:LstmObjective",
    "mock": "objectives.mock:MockObjective",
}


class UserError(Exception):
    """A problem the user can fix; printed as one `error: ...` line, exit code 1."""


@dataclass(frozen=True)
class Settings:
    storage_url: str
    study_name: str
    data: str
    profile: str
    objective: str
    cache_dir: Path
    model_dir: Path
    seed: int
    split: str
    max_epochs: int | None
    debug: bool = False
    heartbeat_interval: int = DEFAULT_HEARTBEAT_INTERVAL
    heartbeat_grace: int = HEARTBEAT_GRACE_FACTOR * DEFAULT_HEARTBEAT_INTERVAL
    # Search ranges given at create (λ in its own units); None: the profile's.
    lambda_range: tuple[float, float] | None = None
    dropout_range: tuple[float, float] | None = None
    hidden_range: tuple[int, int, int] | None = None

    def profile_settings(self):
        """The profile with this study's search ranges applied and validated."""
        from objectives.profiles import get_profile
        from objectives.search_space import with_ranges

        try:
            return with_ranges(get_profile(self.profile), lambda_range=self.lambda_range,
                               dropout_range=self.dropout_range, hidden_range=self.hidden_range)
        except ValueError as exc:
            raise UserError(f"invalid search space: {exc}") from None

    def stored(self) -> dict[str, Any]:
        """What a study records so that every worker runs the same experiment."""
        return {"data": self.data, "profile": self.profile, "objective": self.objective,
                "seed": self.seed, "split": self.split, "max_epochs": self.max_epochs}


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    """The storage/study/data/profile/objective flags every command takes (defaults: None)."""
    group = parser.add_argument_group("shared options")
    group.add_argument("--storage", help="storage URL (else STUDY_STORAGE, OPTUNA_STORAGE, "
                       "sqlite:///studies.db)")
    group.add_argument("--study", help=f"study name (else STUDY_NAME, else {DEFAULT_STUDY_NAME})")
    group.add_argument("--data", help=f"data source: synthetic, fma:DIR, folder:DIR "
                       f"(default {DEFAULT_DATA}, or the study's)")
    group.add_argument("--profile", help=f"{' | '.join(PROFILES)} (default {DEFAULT_PROFILE}, "
                       "or the study's)")
    group.add_argument("--objective", help="lstm (real training), mock, or module:attribute "
                       f"(default {DEFAULT_OBJECTIVE}, or the study's)")
    group.add_argument("--cache-dir", type=Path, help="feature cache directory (else "
                       "STUDY_CACHE_DIR, else ~/.cache/recon-lambda/features)")
    group.add_argument("--model-dir", type=Path, help="where trials save their best model (else "
                       f"STUDY_MODEL_DIR, else ./{DEFAULT_MODEL_DIR})")
    group.add_argument("--seed", type=int, help=f"base seed (default {DEFAULT_SEED}, or the "
                       "study's)")
    group.add_argument("--split", choices=("seed", "official"), help="FMA split: seeded "
                       "70/10/20 or the official one (default seed, or the study's)")
    group.add_argument("--max-epochs", type=int, help="cap on epochs per trial (default: the "
                       "profile's, or the study's)")
    group.add_argument("--debug", action="store_true", help="show tracebacks")


def add_heartbeat_flags(parser: argparse.ArgumentParser) -> None:
    """--heartbeat-interval/--heartbeat-grace, for the commands that run or judge trials."""
    parser.add_argument("--heartbeat-interval", type=int, metavar="S", help=(
        "seconds between heartbeats of a running trial (else STUDY_HEARTBEAT_INTERVAL, else "
        f"{DEFAULT_HEARTBEAT_INTERVAL}); use one value for every worker of a study"))
    parser.add_argument("--heartbeat-grace", type=int, metavar="S", help=(
        "a RUNNING trial without a heartbeat for this long is failed and retried (else "
        f"STUDY_HEARTBEAT_GRACE, else {HEARTBEAT_GRACE_FACTOR} intervals); must exceed the "
        "interval"))


def _heartbeat(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[int, int]:
    """(interval, grace) from flags, then the environment, then the defaults; checked."""
    values: list[int | None] = []
    for flag, var in (("heartbeat_interval", "STUDY_HEARTBEAT_INTERVAL"),
                      ("heartbeat_grace", "STUDY_HEARTBEAT_GRACE")):
        value = getattr(args, flag, None)
        source = "--" + flag.replace("_", "-")
        if value is None and env.get(var):
            source = var
            try:
                value = int(env[var])
            except ValueError:
                raise UserError(f"{var} must be a whole number of seconds, got {env[var]!r}") \
                    from None
        if value is not None and value < 1:
            raise UserError(f"{source} must be at least 1 second, got {value}")
        values.append(value)
    interval = values[0] or DEFAULT_HEARTBEAT_INTERVAL
    grace = values[1] or HEARTBEAT_GRACE_FACTOR * interval
    if grace <= interval:
        raise UserError(f"the heartbeat grace period ({grace} s) must exceed the heartbeat "
                        f"interval ({interval} s), or live trials would be failed between two "
                        "heartbeats: raise --heartbeat-grace")
    return interval, grace


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The feature cache directory when no flag is given (the data layer owns the rule)."""
    if environ is None:
        try:
            from objectives.cli_common import default_cache_dir as data_layer_default
        except ImportError:  # data layer not installed yet: same rule as the contract
            pass
        else:
            return Path(data_layer_default())
    env = os.environ if environ is None else environ
    if env.get("STUDY_CACHE_DIR"):
        return Path(env["STUDY_CACHE_DIR"])
    return Path.home() / ".cache" / "recon-lambda" / "features"


def resolve(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from parsed flags, environment and embedded defaults (no study consulted)."""
    from storage import resolve_storage_url

    env = os.environ if environ is None else environ
    if args.max_epochs is not None and args.max_epochs < 1:
        raise UserError(f"--max-epochs must be at least 1, got {args.max_epochs}")
    interval, grace = _heartbeat(args, env)
    model_dir = args.model_dir or Path(env.get("STUDY_MODEL_DIR") or DEFAULT_MODEL_DIR)
    return Settings(
        storage_url=resolve_storage_url(args.storage, env),
        study_name=args.study or env.get("STUDY_NAME") or DEFAULT_STUDY_NAME,
        data=args.data or DEFAULT_DATA,
        profile=args.profile or DEFAULT_PROFILE,
        objective=args.objective or DEFAULT_OBJECTIVE,
        cache_dir=(args.cache_dir or default_cache_dir(environ)).expanduser().absolute(),
        model_dir=model_dir.expanduser().absolute(),
        seed=DEFAULT_SEED if args.seed is None else args.seed,
        split=args.split or DEFAULT_SPLIT,
        max_epochs=args.max_epochs,
        debug=bool(args.debug),
        heartbeat_interval=interval,
        heartbeat_grace=grace,
        lambda_range=_tuple(getattr(args, "lambda_range", None), float),
        dropout_range=_tuple(getattr(args, "dropout_range", None), float),
        hidden_range=_tuple(getattr(args, "hidden_range", None), int),
    )


def _tuple(values, kind):
    return None if values is None else tuple(kind(v) for v in values)


def merge_with_study(settings: Settings, args: argparse.Namespace,
                     stored: Mapping[str, Any]) -> Settings:
    """Take the experiment fields from the study; an explicit contradicting flag is an error."""
    flags = {"data": args.data, "profile": args.profile, "objective": args.objective,
             "seed": args.seed, "split": args.split, "max_epochs": args.max_epochs}
    updates: dict[str, Any] = {}
    for name, flag in flags.items():
        if name not in stored:
            continue
        if flag is not None and flag != stored[name]:
            option = "--" + name.replace("_", "-")
            raise UserError(
                f"study {settings.study_name!r} was created with {option} {stored[name]}, not "
                f"{flag}: drop {option} or use another --study")
        updates[name] = stored[name]
    return replace(settings, **updates)


def load_objective_factory(name: str) -> Callable[[Any], Callable[[Any], float]]:
    """The factory for `lstm`, `mock` or `module:attribute` (imported only now)."""
    target = OBJECTIVES.get(name, name)
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise UserError(f"unknown objective {name!r}: use lstm, mock or module:attribute")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise UserError(f"objective {name!r}: no module named {module_name!r}") from None
        raise
    try:
        factory = getattr(module, attribute)
    except AttributeError:
        raise UserError(f"objective {name!r}: module {module_name!r} has no {attribute!r}") \
            from None
    if not callable(factory):
        raise UserError(f"objective {name!r} is not callable")
    return factory


def check_objective_name(name: str) -> None:
    """Reject a malformed --objective early, without importing it."""
    if name not in OBJECTIVES and not all(name.partition(":")[::2]):
        raise UserError(f"unknown objective {name!r}: use lstm, mock or module:attribute")
