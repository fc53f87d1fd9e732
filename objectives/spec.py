"""What one trial needs to know of its study: the data, its split, the seed, the holdout source
and the profile. The service builds it from the study's experiment (`study.experiment`); nothing
in `objectives/` sees the study's pruner, budget or replicate settings."""

from __future__ import annotations

from dataclasses import dataclass

from objectives.profiles import Profile


@dataclass(frozen=True)
class TrialSpec:
    data: str  # a source spec with absolute paths: synthetic[:N], fma:DIR, folder:DIR
    profile: Profile  # resolved: search bounds and epoch cap applied
    split: str = "seed"  # FMA only: "seed" (stratified 70/10/20) or "official"
    seed: int = 0  # split and training seeds derive from it
    holdout_data: str | None = None  # a second labelled source every replicate is scored on
