"""What an objective factory is given: everything a worker knows before its first trial.

The service builds one `ObjectiveContext` per worker process and calls the factory once with it;
the factory returns a callable `trial -> float` (validation accuracy, maximized).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ObjectiveContext:
    data: str  # a data source spec: "synthetic", "fma:DIR", "folder:DIR"
    profile: str  # "quick" or "paper"
    cache_dir: Path  # feature caches live below this
    model_dir: Path  # best-validation weights: model_dir / study_name / trial_<number>.pt
    study_name: str
    seed: int = 0
    device: str = "auto"  # "auto", "cpu", "cuda" (the launcher sets CUDA_VISIBLE_DEVICES)
    max_epochs: int | None = None  # None: the profile's
    split: str = "seed"  # FMA only: "seed" (stratified 70/10/20) or "official"
    search: dict | None = None  # the study's stored search bounds; None: the profile's own

    def profile_settings(self):
        """The profile, with the study's search bounds when it stores its own."""
        import dataclasses

        from objectives.profiles import SearchBounds, get_profile

        profile = get_profile(self.profile)
        if not self.search:
            return profile
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in self.search.items()}
        return dataclasses.replace(profile, search=SearchBounds(**fields))

    def model_path(self, trial_number: int) -> Path:
        return self.model_dir / self.study_name / f"trial_{trial_number:05d}.pt"
