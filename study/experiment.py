"""The experiment: everything that defines a study, as one frozen value; built once from flags.

`create` and `run` build it (`from_flags`); it is stored with the study as one attribute and read
back by every worker, objective, report, replicate run and export (`service.open_study`), so
nothing downstream re-derives it from strings; every other command refuses a flag that
contradicts it (`check_flags`): one study, one experiment. The profile is stored resolved
(features, training settings with the epoch cap applied, the study's own search bounds), so a
later change of a profile's defaults never changes an existing study. Studies created before the
experiment was one value are read from their old attributes (`from_legacy_attrs`). A trial sees
only its `TrialSpec` (`Experiment.trial_spec`).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from objectives import Profile, SearchBounds, TrialSpec, get_profile, with_max_epochs, with_ranges
from study import defaults
from study.errors import UserError
from study.replicates.settings import ReplicateSettings
from study.search.pruner import pruner_spec

FORMAT = "recon-lambda-experiment/1"


class ExperimentFormatError(ValueError):
    """A stored experiment this version cannot read."""


@dataclass(frozen=True)
class Experiment:
    data: str  # a source spec with absolute paths: synthetic[:N], fma:DIR, folder:DIR
    profile: Profile  # resolved: search bounds and epoch cap applied
    split: str = "seed"  # FMA only: "seed" (stratified 70/10/20) or "official"
    objective: str = "lstm"  # lstm, mock or package.module:factory
    seed: int = 0  # split, training and sampler seeds derive from it
    pruner: Mapping[str, Any] = field(default_factory=lambda: {"name": "none"})
    n_trials: int | None = None  # the search budget: finished trials across all workers
    replicates: ReplicateSettings = field(default_factory=lambda: ReplicateSettings(seeds=0))
    holdout_data: str | None = None  # a second labelled source every replicate is scored on

    @property
    def search(self) -> SearchBounds:
        return self.profile.search

    def trial_spec(self) -> TrialSpec:
        """What one trial needs of the experiment (`objectives` sees nothing else)."""
        return TrialSpec(data=self.data, profile=self.profile, split=self.split, seed=self.seed,
                         holdout_data=self.holdout_data)

    def with_budget(self, n_trials: int | None) -> Experiment:
        return dataclasses.replace(self, n_trials=n_trials)

    def as_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "data": self.data, "profile": self.profile.as_dict(),
                "split": self.split, "objective": self.objective, "seed": self.seed,
                "pruner": dict(self.pruner), "n_trials": self.n_trials,
                "replicates": self.replicates.as_dict(), "holdout_data": self.holdout_data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Experiment:
        """Read a stored experiment; a clear error for one written by another format."""
        found = data.get("format") if isinstance(data, Mapping) else None
        if found != FORMAT:
            raise ExperimentFormatError(
                f"the study's experiment has format {found!r}; this version reads {FORMAT!r}: "
                "use the version of recon-lambda-study that created the study")
        return cls(data=data["data"], profile=Profile.from_dict(data["profile"]),
                   split=data["split"], objective=data["objective"], seed=int(data["seed"]),
                   pruner=dict(data["pruner"]), n_trials=data["n_trials"],
                   replicates=ReplicateSettings.from_dict(data["replicates"]),
                   holdout_data=data.get("holdout_data"))


OBJECTIVES = {"lstm": "objectives.objective:LstmObjective",
              "mock": "objectives.mock:MockObjective"}


def check_objective_name(name: str) -> None:
    """Reject a malformed --objective early, without importing it."""
    module, sep, attribute = name.partition(":")
    if name not in OBJECTIVES and not (sep and module and attribute):
        raise UserError(f"unknown objective {name!r}: use lstm, mock or module:attribute")


def _normalize(spec: str) -> str:
    from objectives import normalize_spec

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
        replicates=replicate_settings(args, profile),
        holdout_data=_normalize(holdout) if holdout else None)


_BUDGET = re.compile(r"\s*(\d+(?:\.\d*)?)\s*(s|m|min|h|gpuh)?\s*", re.IGNORECASE)
_UNITS = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "gpuh": 3600.0}


def parse_budget(text: str) -> tuple[float, str]:
    """`20m`, `2h`, `90s` (wall time of the phase) or `4gpuh` (summed device time of its runs):
    (seconds, "wall" or "device")."""
    match = _BUDGET.fullmatch(text)
    if match is None or not float(match.group(1)) > 0:
        raise UserError(f"--replicate-budget must be a positive duration like 20m, 2h, 90s or "
                        f"4gpuh (GPU-hours), got {text!r}")
    unit = (match.group(2) or "s").lower()
    return float(match.group(1)) * _UNITS[unit], "device" if unit == "gpuh" else "wall"


def replicate_settings(args: argparse.Namespace, profile: Profile) -> ReplicateSettings:
    """The replicate phase of a new study: the flags, else the defaults of its profile
    (`study.defaults.replicates`); checked."""
    preset = defaults.replicates(profile.name)
    seeds = _flag(args, "replicate_seeds", preset.seeds)
    max_seeds = _flag(args, "max_seeds", max(preset.max_seeds, seeds))
    target = _flag(args, "target_ci", None)
    budget = getattr(args, "replicate_budget", None)
    seconds, kind = parse_budget(budget) if budget else (preset.budget_s, "wall")
    if target is not None and not target > 0:
        raise UserError(f"--target-ci must be a positive half-width in points, got {target:g}")
    if max_seeds < seeds:
        raise UserError(f"--max-seeds ({max_seeds}) must be at least the first round's seeds "
                        f"(--replicate-seeds {seeds})")
    bounds = profile.search
    low, high = 10 ** bounds.lambda_off_below, 10 ** bounds.log10_lambda[1]
    lambdas = tuple(getattr(args, "replicate_lambdas", None) or ())
    outside = [lam for lam in lambdas if lam != 0 and not low * (1 - 1e-9) <= lam <= high * (1 + 1e-9)]
    if any(lam < 0 for lam in lambdas) or outside:
        raise UserError(f"--replicate-lambdas must be 0 or inside the study's λ range "
                        f"{low:g} … {high:g}, got {', '.join(f'{v:g}' for v in lambdas)}")
    dropouts = tuple(getattr(args, "replicate_dropouts", None) or ())
    if any(not bounds.dropout[0] <= d <= bounds.dropout[1] for d in dropouts):
        raise UserError(f"--replicate-dropouts must lie inside the dropout range "
                        f"{bounds.dropout[0]:g} … {bounds.dropout[1]:g}")
    hiddens = tuple(getattr(args, "replicate_hidden", None) or ())
    if any(h < 1 for h in hiddens):
        raise UserError("--replicate-hidden sizes must be positive")
    return ReplicateSettings(
        seeds=seeds, lambdas=lambdas, curve_points=_flag(args, "curve_points", preset.curve_points),
        candidates=_flag(args, "replicate_candidates", defaults.REPLICATE_CANDIDATES), dropouts=dropouts, hiddens=hiddens,
        target_ci=preset.target if target is None else target / 100.0,
        max_seeds=max_seeds, budget_seconds=seconds, budget_kind=kind)


def _flag(args: argparse.Namespace, name: str, default: Any) -> Any:
    value = getattr(args, name, None)
    return default if value is None else value


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
