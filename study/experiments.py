"""The experiment of a study: built once from flags (and defaults), checked against flags later.

`create` and `run` build it (`from_flags`); every other command reads it back from the study
(`service.open_study`) and refuses a flag that contradicts it (`check_flags`): one study, one
experiment. Studies created before the experiment was one value are read from their old
attributes (`from_legacy_attrs`).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from typing import Any

from objectives.experiment import Experiment, ReplicateSettings
from objectives.profiles import Profile, SearchBounds, get_profile, with_max_epochs
from objectives.search_space import with_ranges
from study import defaults
from study.errors import UserError
from study.search.samplers import pruner_spec

OBJECTIVES = {"lstm": "objectives.objective:LstmObjective",
              "mock": "objectives.mock:MockObjective"}


def check_objective_name(name: str) -> None:
    """Reject a malformed --objective early, without importing it."""
    module, sep, attribute = name.partition(":")
    if name not in OBJECTIVES and not (sep and module and attribute):
        raise UserError(f"unknown objective {name!r}: use lstm, mock or module:attribute")


def _normalize(spec: str) -> str:
    from objectives.data.registry import normalize_spec

    return normalize_spec(spec)


def _profile(args: argparse.Namespace) -> Profile:
    profile = get_profile(getattr(args, "profile", None) or defaults.PROFILE)
    ranges = {name: getattr(args, name, None)
              for name in ("lambda_range", "dropout_range", "hidden_range")}
    try:
        profile = with_ranges(profile, **{k: tuple(v) for k, v in ranges.items() if v})
    except ValueError as exc:
        raise UserError(f"invalid search space: {exc}") from None
    epochs = getattr(args, "max_epochs", None)
    if epochs is not None:
        if epochs < 1:
            raise UserError(f"--max-epochs must be at least 1, got {epochs}")
        profile = with_max_epochs(profile, epochs)
    return profile


def from_flags(args: argparse.Namespace, *, n_trials: int | None) -> Experiment:
    """The experiment a new study gets from `create`/`run` flags and the defaults."""
    objective = getattr(args, "objective", None) or defaults.OBJECTIVE
    check_objective_name(objective)
    profile = _profile(args)
    seeds = getattr(args, "replicate_seeds", None)
    lambdas = tuple(getattr(args, "replicate_lambdas", None) or ())
    if any(lam < 0 for lam in lambdas):
        raise UserError(f"--replicate-lambdas must be >= 0, got {', '.join(map(str, lambdas))}")
    holdout = getattr(args, "holdout_data", None)
    seed = getattr(args, "seed", None)
    return Experiment(
        data=_normalize(getattr(args, "data", None) or defaults.DATA),
        profile=profile,
        split=getattr(args, "split", None) or defaults.SPLIT,
        objective=objective,
        seed=defaults.SEED if seed is None else seed,
        pruner=pruner_spec(getattr(args, "pruner", None) or defaults.PRUNER,
                           profile.train.max_epochs),
        n_trials=n_trials,
        replicates=ReplicateSettings(seeds=profile.replicate_seeds if seeds is None else seeds,
                                     lambdas=lambdas),
        holdout_data=_normalize(holdout) if holdout else None)


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """The experiment flags given explicitly, as the experiment spells their values."""
    given: dict[str, Any] = {}
    for flag in ("data", "holdout_data"):
        if getattr(args, flag, None):
            given[flag] = _normalize(getattr(args, flag))
    for flag in ("profile", "objective", "seed", "split", "max_epochs"):
        if getattr(args, flag, None) is not None:
            given[flag] = getattr(args, flag)
    return given


def check_flags(experiment: Experiment, args: argparse.Namespace, study_name: str) -> None:
    """An explicit flag that contradicts the study's experiment is an error, not ignored."""
    stored = {"data": experiment.data, "holdout_data": experiment.holdout_data,
              "profile": experiment.profile.name, "objective": experiment.objective,
              "seed": experiment.seed, "split": experiment.split,
              "max_epochs": experiment.profile.train.max_epochs}
    for name, value in _given(args).items():
        if value != stored[name]:
            option = "--" + name.replace("_", "-")
            raise UserError(f"study {study_name!r} was created with {option} {stored[name]}, "
                            f"not {value}: drop {option} or use another --study")


def from_legacy_attrs(attrs: Mapping[str, Any]) -> Experiment:
    """The experiment of a study created before it was stored as one value (format 0)."""
    try:
        profile = get_profile(attrs["profile"])
        if attrs.get("search_space"):
            search = {k: tuple(v) if isinstance(v, list) else v
                      for k, v in attrs["search_space"].items()}
            profile = dataclasses.replace(profile, search=SearchBounds(**search))
        if attrs.get("max_epochs"):
            profile = with_max_epochs(profile, int(attrs["max_epochs"]))
        return Experiment(data=attrs["data"], profile=profile, split=attrs.get("split", "seed"),
                          objective=attrs["objective"], seed=int(attrs.get("seed", 0)),
                          pruner=dict(attrs.get("pruner") or {"name": "none"}),
                          n_trials=attrs.get("n_trials"),
                          # Old studies had no replicate phase; `study replicate` adds one.
                          replicates=ReplicateSettings(seeds=0))
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"cannot read the study's experiment from its attributes ({exc}); it was "
                        "created by another version of recon-lambda-study") from None
