"""The study-wide trial budget: N finished trials across all workers, exactly.

`MaxTrialsCallback` alone stops a worker only after its trial finished, so workers that start at
the same moment overshoot. Here every `ask` of a worker passes the gate (`study.gate`), under a
lock shared by all workers of the study: it counts finished (COMPLETE, PRUNED) plus RUNNING trials
and starts a trial only while that sum is below the budget. A trial that fails frees its place;
none is started beyond it.
"""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from storage import GatedStudy, count_trials
from study.gate import PhaseDone, gated, swept_first
from study.trials import FINISHED

COUNTED = (*FINISHED, TrialState.RUNNING)


def budgeted(study: optuna.Study, budget: int | None, deadline: float | None = None,
             heartbeat_interval: int | None = None) -> GatedStudy:
    """`study` whose `ask` refuses to start a trial beyond the study-wide `budget` (PhaseDone)."""
    if budget is None:
        return swept_first(study)

    def within_budget(study: GatedStudy) -> bool:
        if count_trials(study, FINISHED) >= budget:
            raise PhaseDone
        return count_trials(study, COUNTED) < budget

    return gated(study, within_budget, deadline=deadline, heartbeat_interval=heartbeat_interval)
