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
        # In short steps, like training: a signal that lands on another thread (the heartbeat's)
        # reaches the main thread only when it next runs Python code, not inside a long sleep.
        end = time.monotonic() + self.replicate_delay
        while time.monotonic() < end:
            time.sleep(0.1)
        return super().replicate(params, seed)
