"""Simulated replicate runs with a known truth, for the decision tests: accuracy of arm a on
seed k = truth[a] + a seed effect shared by every arm on seed k + the run's own noise."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

SEED_SD = 0.02  # 2 points: seed k's initial weights and batch order, shared by every arm
RUN_SD = 0.03  # 3 points per run, as the reference's test noise
LAMBDAS = (0.0, 0.01, 0.1, 1.0, 3.0, 10.0, 100.0)


def lambda_curve(lam: float, base: float = 0.50, peak: float = 0.04) -> float:
    """A dose-response with its peak (+4 points) at λ = 3, half a decade wide on a log scale."""
    if lam == 0:
        return base
    return base + peak * math.exp(-((math.log10(lam) - math.log10(3.0)) ** 2) / (2 * 0.5**2))


def runs(truth: Mapping[str, float], seeds: Mapping[str, Sequence[int]] | Sequence[int],
         rng: np.random.Generator, *, seed_sd: float = SEED_SD,
         run_sd: float = RUN_SD) -> dict[str, dict[int, float]]:
    """arm → {seed → accuracy}; `seeds` is one list for every arm or a list per arm."""
    per_arm = seeds if isinstance(seeds, Mapping) else {arm: seeds for arm in truth}
    top = max((max(s, default=-1) for s in per_arm.values()), default=-1)
    shared = rng.normal(0.0, seed_sd, top + 1)
    return {arm: {int(k): float(truth[arm] + shared[k] + rng.normal(0.0, run_sd))
                  for k in per_arm[arm]} for arm in truth}
