"""Mock objectives with a known λ effect, for testing the replicate statistics end to end.

Workers import them by name (`--objective tests.study.mock_effects:KnownGain`), like any user
objective; the search still runs the usual mock, the replicates scatter around `truth`.
"""

from __future__ import annotations

from objectives.mock import MockObjective
from objectives.search_space import TrialParams


class KnownGain(MockObjective):
    """Every λ > 0 gains exactly `gain` accuracy over λ = 0; nothing else matters. A run's own
    noise is half a point (the noise of a seed is shared by its arms and cancels in the pairs),
    on top of the grid of 160 test clips."""

    gain = 0.03
    run_sd = 0.005

    def truth(self, params: TrialParams) -> float:
        return 0.55 + (self.gain if params.lam > 0 else 0.0)


class NoEffect(KnownGain):
    gain = 0.0
