"""The study-wide trial budget: N finished trials across all workers, exactly.

`MaxTrialsCallback` alone stops a worker only after its trial finished, so workers that start at
the same moment overshoot. Here every `ask` of a worker runs under a lock shared by all workers of
the study: it fails stale trials (and queues their retries), counts finished (COMPLETE, PRUNED)
plus RUNNING trials and starts a trial only while that sum is below the budget. A trial that
fails frees its place; none is started beyond it.

When the rest of the budget is held by RUNNING trials, a worker waits instead of leaving: one of
those trials may still fail, or belong to a killed worker (its heartbeat goes stale, the wait
fails it and re-queues it, and this worker runs the retry). The wait ends when the budget is
finished, a place frees up, or the worker's deadline passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import optuna
from optuna.trial import TrialState

from storage.optuna_internals import (
    GatedStudy,
    count_trials,
    fail_stale,
    running_with_heartbeat,
    study_lock,
)

COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
MAX_POLL_S = 5.0  # how often a waiting worker looks at the RUNNING trials


class BudgetReached(Exception):
    """Raised from `ask` when the study's budget is used up; the worker then stops."""


def n_finished(study: optuna.Study) -> int:
    return count_trials(study, FINISHED)


def budgeted(study: optuna.Study, budget: int | None, deadline: float | None = None,
             heartbeat_interval: int | None = None) -> GatedStudy:
    """`study` whose `ask` refuses to start a trial beyond the study-wide `budget`.

    `study.optimize` asks through it, so heartbeats, pruning and callbacks stay Optuna's.
    `deadline` (a `time.monotonic()` value) bounds the wait for other workers' RUNNING trials.
    """
    if budget is None:
        return GatedStudy(study, swept_first)
    poll = min(MAX_POLL_S, max(0.5, (heartbeat_interval or MAX_POLL_S) / 2))

    def within_budget(gated: GatedStudy, ask: Callable[[], optuna.Trial]) -> optuna.Trial:
        unbeating = 0
        while True:
            with study_lock(gated):
                fail_stale(gated)  # a stale trial's place is freed and its retry queued at once
                if count_trials(gated, FINISHED) >= budget:
                    raise BudgetReached
                if count_trials(gated, COUNTED) < budget:
                    return ask()
            # RUNNING trials without any heartbeat (ask/tell by hand) never go stale: twice in a
            # row (a new trial beats at once) means there is nothing worth waiting for.
            unbeating = unbeating + 1 if running_with_heartbeat(gated) == 0 else 0
            if heartbeat_interval is None or unbeating >= 2 or (
                    deadline is not None and time.monotonic() + poll > deadline):
                raise BudgetReached
            time.sleep(poll)

    return GatedStudy(study, within_budget)


def swept_first(gated: GatedStudy, ask: Callable[[], optuna.Trial]) -> optuna.Trial:
    """No budget: every ask, as in Optuna's own loop, first fails and re-queues stale trials."""
    with study_lock(gated):
        fail_stale(gated)
        return ask()
