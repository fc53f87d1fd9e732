"""Objectives of the fault tests, imported by workers by name like any user objective
(`--objective tests.study.slow_objectives:SlowReplicates`)."""

from __future__ import annotations

import time

from objectives.context import ObjectiveContext, ReplicateOutcome
from objectives.mock import MockObjective
from objectives.search_space import TrialParams


class SlowReplicates(MockObjective):
    """The mock with its search trials at once and each replicate lasting STUDY_MOCK_DELAY s."""

    def __init__(self, ctx: ObjectiveContext) -> None:
        super().__init__(ctx)
        self.replicate_delay, self.delay = self.delay, 0.0

    def replicate(self, params: TrialParams, seed: int) -> ReplicateOutcome:
        time.sleep(self.replicate_delay)
        return super().replicate(params, seed)
