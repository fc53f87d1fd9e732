"""Mock objectives with known effects, for testing the replicate phase's statistics end to end.

Workers import them by name (`--objective tests.study.mock_effects:KnownCurve`), like any user
objective; the search still runs the usual mock, the replicates scatter around `truth`.
"""

from __future__ import annotations

import math

from objectives.mock import MockObjective
from objectives.search_space import TrialParams


class KnownCurve(MockObjective):
    """A λ curve that peaks 4 points above λ = 0 at λ = 3 (a Gaussian in log10 λ, 0.6 decades
    wide), dropout that costs up to 3 points away from 0.3, hidden size that matters 1 point.
    Each seed has 3 points of noise shared by its arms (the same initial weights and batch order),
    each run 1 point of its own, on top of the grid of 160 test clips."""

    peak = 0.04
    seed_sd = 0.03
    run_sd = 0.01

    def truth(self, params: TrialParams) -> float:
        lam = 0.0 if params.lam <= 0 else \
            self.peak * math.exp(-0.5 * ((math.log10(params.lam) - math.log10(3.0)) / 0.6) ** 2)
        dropout = 0.03 * min(1.0, ((params.dropout - 0.3) / 0.3) ** 2)
        hidden = 0.01 * min(1.0, abs(params.hidden - 64) / 48)
        return 0.55 + lam - dropout - hidden


class NoEffect(KnownCurve):
    """Nothing matters: every arm's truth is the same."""

    def truth(self, params: TrialParams) -> float:
        return 0.55
