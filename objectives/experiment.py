"""The experiment: everything that defines a study, as one frozen value.

Built once from flags and environment (`study.experiments`), stored with the study as one attribute, and
read back by every worker, objective, report, replicate run and export, so nothing downstream
re-derives it from strings. The profile is stored resolved (features, training settings with the
epoch cap applied, the study's own search bounds), so a later change of a profile's defaults
never changes an existing study.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from objectives.profiles import Profile

FORMAT = "recon-lambda-experiment/1"
REFERENCE_LAMBDA = 10.0  # the seed article's λ: its claim is tested as a replicate arm


class ExperimentFormatError(ValueError):
    """A stored experiment this version cannot read."""


@dataclass(frozen=True)
class ReplicateSettings:
    """The replicate phase: the search's top configurations, the λ curve and the one-factor arms
    around the best, K0 paired seeds each, then rounds of more seeds where intervals are wide."""

    seeds: int  # K0 paired seeds per arm in the first round; 0 turns the phase off
    lambdas: tuple[float, ...] = ()  # the user's own λ points of the curve
    reference_lambda: float | None = REFERENCE_LAMBDA
    curve_points: int = 3  # log-spaced λ > 0 points covering the study's λ range
    candidates: int = 3  # the top k distinct search configurations in the race
    dropouts: tuple[float, ...] = ()  # one-factor dropout arms (empty: the range's two ends)
    hiddens: tuple[int, ...] = ()  # one-factor hidden-size arms (empty: the range's two ends)
    target_ci: float | None = None  # half-width (a fraction) that ends the extra rounds
    max_seeds: int = 0  # seeds per arm at most (0: K0, no extra rounds)
    budget_seconds: float | None = None  # the phase's budget (None: none)
    budget_kind: str = "wall"  # "wall" (seconds since the phase began) or "device" (run seconds)

    @property
    def seed_cap(self) -> int:
        return max(self.seeds, self.max_seeds)

    def as_dict(self) -> dict[str, Any]:
        return {"seeds": self.seeds, "lambdas": list(self.lambdas),
                "reference_lambda": self.reference_lambda, "curve_points": self.curve_points,
                "candidates": self.candidates, "dropouts": list(self.dropouts),
                "hiddens": list(self.hiddens), "target_ci": self.target_ci,
                "max_seeds": self.max_seeds, "budget_seconds": self.budget_seconds,
                "budget_kind": self.budget_kind}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReplicateSettings:
        # Keys added later are optional: studies stored before them read with the defaults.
        defaults = cls(seeds=0)
        return cls(seeds=int(data["seeds"]), lambdas=tuple(float(v) for v in data["lambdas"]),
                   reference_lambda=data.get("reference_lambda"),
                   curve_points=int(data.get("curve_points", defaults.curve_points)),
                   candidates=int(data.get("candidates", defaults.candidates)),
                   dropouts=tuple(float(v) for v in data.get("dropouts", ())),
                   hiddens=tuple(int(v) for v in data.get("hiddens", ())),
                   target_ci=data.get("target_ci"), max_seeds=int(data.get("max_seeds", 0)),
                   budget_seconds=data.get("budget_seconds"),
                   budget_kind=data.get("budget_kind", "wall"))


@dataclass(frozen=True)
class Experiment:
    data: str  # a source spec with absolute paths: synthetic[:N], fma:DIR, folder:DIR
    profile: Profile  # resolved: search bounds and epoch cap applied
    split: str = "seed"  # FMA only: "seed" (stratified 70/10/20) or "official"
    objective: str = "lstm"  # lstm, mock or package.module:factory
    seed: int = 0  # split, training and sampler seeds derive from it
    pruner: Mapping[str, Any] = field(default_factory=lambda: {"name": "none"})
    n_trials: int | None = None  # the search budget: finished trials across all workers
    replicates: ReplicateSettings = ReplicateSettings(seeds=0)
    holdout_data: str | None = None  # a second labelled source every replicate is scored on

    @property
    def search(self):
        return self.profile.search

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
