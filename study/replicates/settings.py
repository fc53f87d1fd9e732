"""The replicate phase's settings of a study, as stored with its experiment (`study.experiment`).

The defaults a new study starts from are `study.defaults.REPLICATES` (per profile); the flags that
change them are read in `study.experiment.replicate_settings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from study.defaults import REPLICATE_CANDIDATES

REFERENCE_LAMBDA = 10.0  # the seed article's λ: its claim is tested as a replicate arm


@dataclass(frozen=True)
class ReplicateSettings:
    """The replicate phase: the search's top configurations, the λ curve and the one-factor arms
    around the best, K0 paired seeds each, then rounds of more seeds where intervals are wide."""

    seeds: int  # K0 paired seeds per arm in the first round; 0 turns the phase off
    lambdas: tuple[float, ...] = ()  # the user's own λ points of the curve
    reference_lambda: float | None = REFERENCE_LAMBDA
    curve_points: int = 3  # log-spaced λ > 0 points covering the study's λ range
    candidates: int = REPLICATE_CANDIDATES  # the top k distinct search configurations in the race
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
